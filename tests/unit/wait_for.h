#pragma once

// Bounded waits for unit tests, so that no test sleeps for a guessed time.
//
// ExitsWithin waits on an event: a pidfd becomes readable the moment its process exits.
// PollUntil is for the few conditions nothing signals (a cgroup's process list read from a
// file, a counter a background thread bumps): it is the one polling loop of the unit tests.
// Prefer an event (a pipe, a pidfd, a condition variable) wherever there is one.

#include <poll.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include <signal.h>

#include "common/read_file.h"

namespace runyard::testutil {

// True once `pid` no longer runs: gone, or a zombie nobody reaped yet (a process that is
// not this one's child, whose pidfd ExitsWithin could also wait on).
inline bool NotRunning(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  const std::string stat = common::ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  return paren == std::string::npos || (paren + 2 < stat.size() && stat[paren + 2] == 'Z');
}

// True once `pid` has exited (a child of this process is a zombie then, still to be
// reaped); false if it has not within `patience`. `pid` must not be reaped yet.
inline bool ExitsWithin(pid_t pid, std::chrono::milliseconds patience) {
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return false;
  const auto deadline = std::chrono::steady_clock::now() + patience;
  int ready = -1;
  while (ready < 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd entry{pidfd, POLLIN, 0};
    ready = ::poll(&entry, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
    if (ready < 0 && errno != EINTR) break;
  }
  ::close(pidfd);
  return ready == 1;
}

// True once `done()` holds, checked every few ms; false if it does not within `patience`.
template <typename Condition>
bool PollUntil(Condition done, std::chrono::milliseconds patience) {
  constexpr std::chrono::milliseconds kInterval{5};
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kInterval);
  }
  return true;
}

}  // namespace runyard::testutil
