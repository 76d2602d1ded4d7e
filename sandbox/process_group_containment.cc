#include "sandbox/process_group_containment.h"

#include <signal.h>

#include <set>

#include "sandbox/process_group.h"

namespace runyard::sandbox {

void ProcessGroupContainment::SignalAll(int signal, pid_t spared) {
  if (tag_.empty()) {
    SignalGroup(pgid_, signal);
    return;
  }
  // Processes that left the group (setsid) still carry the run's tag; each process gets
  // the signal once, so a script's TERM trap runs once.
  const std::vector<pid_t> tagged = FindTaggedProcesses(tag_);
  std::set<pid_t> members(tagged.begin(), tagged.end());
  if (spared == 0) {
    SignalGroup(pgid_, signal);
    for (pid_t pid : FindGroupMembers(pgid_)) members.erase(pid);
  } else {
    // One by one, to spare one. The group's members are found by group id too, because
    // a process in the middle of an exec shows no environment (so no tag) for a moment.
    for (pid_t pid : FindGroupMembers(pgid_)) members.insert(pid);
    members.erase(spared);
  }
  for (pid_t pid : members) ::kill(pid, signal);
}

bool ProcessGroupContainment::Empty() {
  return !GroupExists(pgid_) && (tag_.empty() || FindTaggedProcesses(tag_).empty());
}

absl::Status ProcessGroupContainment::ApplyLimits(const Limits& limits) {
  if (limits.memory_bytes > 0 || limits.cpus > 0 || limits.pids > 0) {
    return absl::UnimplementedError("limits need cgroups; this node contains runs by process group only");
  }
  return absl::OkStatus();
}

}  // namespace runyard::sandbox
