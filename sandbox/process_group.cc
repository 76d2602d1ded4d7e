#include "sandbox/process_group.h"

#include <signal.h>

#include <cerrno>

namespace runyard::sandbox {

void SignalGroup(pid_t pgid, int signal) {
  if (pgid > 0) ::killpg(pgid, signal);
}

bool GroupExists(pid_t pgid) {
  if (pgid <= 0) return false;
  return ::killpg(pgid, 0) == 0 || errno == EPERM;
}

}  // namespace runyard::sandbox
