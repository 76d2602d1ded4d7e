#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <chrono>
#include <vector>

namespace runyard::sandbox {

// The process-group level of isolation: the run's first process leads a new session
// (and so a new process group), and the whole group is signalled at once.
// cgroups (a later level) also catch processes that leave the group with setsid.

// Empties the signal mask and restores default actions (async-signal-safe).
void ResetSignalsForExec();

// Sends `signal` to every process in group `pgid`; a group already gone is not an error.
void SignalGroup(pid_t pgid, int signal);

// Every process now in group `pgid`, read from /proc/*/stat (readable at every moment,
// even while a process is in the middle of an exec, unlike /proc/*/environ).
std::vector<pid_t> FindGroupMembers(pid_t pgid);

// True while any process of group `pgid` exists (zombies excluded only once reaped).
bool GroupExists(pid_t pgid);

}  // namespace runyard::sandbox
