#include "sandbox/child_reaper.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <string>

#include "common/owned_children.h"

namespace runyard::sandbox {

bool BecomeChildSubreaper() { return ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0; }

std::vector<pid_t> ZombieChildren() {
  std::vector<pid_t> zombies;
  const pid_t self = ::getpid();
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return zombies;
  while (dirent* entry = ::readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
    if (pid <= 0) continue;
    // Plain read(): a process may exit between open and read (ESRCH), which must not throw.
    char buffer[1024];
    const int fd = ::open(("/proc/" + std::string(entry->d_name) + "/stat").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    ::close(fd);
    if (n <= 0) continue;
    const std::string stat(buffer, static_cast<size_t>(n));
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so parse after the last ')'.
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 1));
    char state = 0;
    pid_t parent = 0;
    if (fields >> state >> parent && state == 'Z' && parent == self) zombies.push_back(pid);
  }
  ::closedir(proc);
  return zombies;
}

int ReapOrphans() {
  // Most rounds nothing has exited: one waitid() that leaves zombies in place says so,
  // and the walk over every process in /proc (the idle agent's main CPU cost) is skipped.
  siginfo_t exited{};
  if (::waitid(P_ALL, 0, &exited, WEXITED | WNOHANG | WNOWAIT) != 0 || exited.si_pid == 0) return 0;
  int reaped = 0;
  for (pid_t pid : common::UnownedChildren(ZombieChildren())) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) ++reaped;
  }
  return reaped;
}

OrphanReaper::OrphanReaper(std::chrono::milliseconds period) : period_(period), thread_([this] { Loop(); }) {}

OrphanReaper::~OrphanReaper() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stop_requested_.notify_all();
  thread_.join();
}

int OrphanReaper::reaped() const {
  std::lock_guard lock(mutex_);
  return reaped_;
}

void OrphanReaper::Loop() {
  std::unique_lock lock(mutex_);
  while (!stop_requested_.wait_for(lock, period_, [this] { return stopping_; })) {
    lock.unlock();
    const int reaped = ReapOrphans();
    lock.lock();
    reaped_ += reaped;
  }
}

}  // namespace runyard::sandbox
