#pragma once

// Internal to sandbox: a run's containment as one folder in each cgroup v1 hierarchy, the
// freezer's first (it holds the run together; the others carry limits and accounting).

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/containment.h"

namespace runyard::sandbox {

class CgroupV1 : public Containment {
 public:
  // dirs[0] is the freezer's; `controllers` says what each one's hierarchy holds
  // ("cpu,cpuacct"). Without Open (and controllers) it stands for folders already there (a
  // run left by an agent that was killed): they can be killed and removed, not joined.
  explicit CgroupV1(std::vector<std::filesystem::path> dirs, std::vector<std::string> controllers = {})
      : dirs_(std::move(dirs)), controllers_(std::move(controllers)) {}
  ~CgroupV1() override;

  // Creates the folders and opens each cgroup.procs for JoinFromChild.
  absl::Status Open();

  ContainmentMode mode() const override { return ContainmentMode::kCgroupV1; }
  std::vector<std::filesystem::path> CgroupDirectories() const override { return dirs_; }
  int JoinFromChild() override;
  void Started(pid_t) override {}
  void SignalAll(int signal, pid_t spared) override;
  void KillAll() override;
  bool Empty() override;
  absl::Status ApplyLimits(const Limits& limits) override;
  Usage ReadUsage() override;

 private:
  // This run's folder in the hierarchy holding `controller` (the mount's name says it).
  std::optional<std::filesystem::path> Dir(const std::string& controller) const;

  std::vector<std::filesystem::path> dirs_;
  std::vector<std::string> controllers_;
  std::vector<int> procs_fds_;
};

}  // namespace runyard::sandbox
