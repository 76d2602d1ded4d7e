#include "sandbox/process_group.h"

#include <signal.h>

#include <cerrno>

namespace runyard::sandbox {

void SignalGroup(pid_t pgid, int signal) {
  if (pgid > 0) ::killpg(pgid, signal);
}

void ResetSignalsForExec() {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int signal : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGUSR1, SIGUSR2, SIGCHLD}) {
    ::signal(signal, SIG_DFL);
  }
}

bool GroupExists(pid_t pgid) {
  if (pgid <= 0) return false;
  return ::killpg(pgid, 0) == 0 || errno == EPERM;
}

}  // namespace runyard::sandbox
