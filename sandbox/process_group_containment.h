#pragma once

// Internal to sandbox: a run's containment without cgroups: its first process's group,
// plus a sweep for the processes that left it, by the run's tag (RUNYARD_RUN_TAG).

#include <signal.h>

#include <string>

#include "sandbox/containment.h"

namespace runyard::sandbox {

class ProcessGroupContainment : public Containment {
 public:
  // An empty `tag` means no sweep: the group alone.
  explicit ProcessGroupContainment(std::string tag) : tag_(std::move(tag)) {}

  ContainmentMode mode() const override { return ContainmentMode::kProcessGroup; }
  std::vector<std::filesystem::path> CgroupDirectories() const override { return {}; }
  int JoinFromChild() override { return 0; }  // the new session is the group
  void Started(pid_t leader) override { pgid_ = leader; }
  void SignalAll(int signal, pid_t spared) override;
  void KillAll() override { SignalAll(SIGKILL, 0); }
  bool Empty() override;
  absl::Status ApplyLimits(const Limits& limits) override;
  Usage ReadUsage() override { return {}; }

 private:
  std::string tag_;
  pid_t pgid_ = -1;
};

}  // namespace runyard::sandbox
