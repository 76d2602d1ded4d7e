#include "sandbox/process_group.h"

#include <signal.h>

#include <dirent.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

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

std::vector<pid_t> FindGroupMembers(pid_t pgid) {
  std::vector<pid_t> members;
  if (pgid <= 0) return members;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return members;
  while (dirent* entry = ::readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
    if (pid <= 0) continue;
    std::ifstream stat_file("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and ')', so read after the last ')'.
    const size_t comm_end = stat.rfind(')');
    if (comm_end == std::string::npos) continue;
    std::istringstream fields(stat.substr(comm_end + 1));
    char state = 0;
    pid_t parent = 0, group = 0;
    if (fields >> state >> parent >> group && group == pgid) members.push_back(pid);
  }
  ::closedir(proc);
  return members;
}

bool GroupExists(pid_t pgid) {
  if (pgid <= 0) return false;
  return ::killpg(pgid, 0) == 0 || errno == EPERM;
}

}  // namespace runyard::sandbox
