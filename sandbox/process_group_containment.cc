#include "sandbox/process_group_containment.h"

#include <signal.h>

#include "sandbox/process_group.h"

namespace runyard::sandbox {

void ProcessGroupContainment::SignalAll(int signal, pid_t spared) {
  // The whole group at once, unless one of its members is to be spared.
  if (spared == 0 || tag_.empty()) SignalGroup(pgid_, signal);
  // Processes that left the group (setsid) still carry the run's tag.
  if (!tag_.empty()) {
    for (pid_t pid : FindTaggedProcesses(tag_)) {
      if (pid != spared) ::kill(pid, signal);
    }
  }
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
