#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <chrono>

namespace runyard::sandbox {

// The process-group level of isolation: the run's first process leads a new session
// (and so a new process group), and the whole group is signalled at once.
// cgroups (a later level) also catch processes that leave the group with setsid.

// Empties the signal mask and restores default actions (async-signal-safe).
void ResetSignalsForExec();

// Boost.Process v2 initializer: runs in the child between fork and exec. Besides the new
// session it gives the script default signal handling: the agent and the CLI block
// SIGTERM/SIGINT in their threads (to take them with sigwait), and a blocked or ignored
// signal would otherwise survive exec, leaving the script deaf to the SIGTERM of a cancel.
struct NewSession {
  template <typename Launcher>
  std::error_code on_exec_setup(Launcher&, const auto&, const auto&) {
    if (::setsid() < 0) return std::error_code(errno, std::system_category());
    ResetSignalsForExec();
    return {};
  }
};

// Sends `signal` to every process in group `pgid`; a group already gone is not an error.
void SignalGroup(pid_t pgid, int signal);

// True while any process of group `pgid` exists (zombies excluded only once reaped).
bool GroupExists(pid_t pgid);

}  // namespace runyard::sandbox
