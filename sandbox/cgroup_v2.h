#pragma once

// Internal to sandbox: a run's containment as one cgroup v2 folder.

#include <filesystem>

#include "sandbox/containment.h"

namespace runyard::sandbox {

class CgroupV2 : public Containment {
 public:
  // `dir` is <parent>/<run id>. Without Open it stands for a folder already there (a run
  // left by an agent that was killed): it can be killed and removed, not joined.
  explicit CgroupV2(std::filesystem::path dir) : dir_(std::move(dir)) {}
  ~CgroupV2() override;

  // Creates the folder and opens its cgroup.procs for JoinFromChild.
  absl::Status Open();

  ContainmentMode mode() const override { return ContainmentMode::kCgroupV2; }
  std::vector<std::filesystem::path> CgroupDirectories() const override { return {dir_}; }
  int JoinFromChild() override;
  void Started(pid_t) override {}
  void SignalAll(int signal, pid_t spared) override;
  void KillAll() override;
  bool Empty() override;
  absl::Status ApplyLimits(const Limits& limits) override;
  Usage ReadUsage() override;

 private:
  std::filesystem::path dir_;
  int procs_fd_ = -1;
};

}  // namespace runyard::sandbox
