#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>

#include "absl/status/statusor.h"

namespace runyard::agent {

// `<work_dir>/agent.pid`, locked (flock) for as long as the agent lives: a second agent on
// the same work dir refuses to start, and `runyard-agent drain` finds the live one. The
// lock goes with the process, so a killed agent leaves no stale claim.
class AgentPidFile {
 public:
  // Claims the work dir for this process; an error names the agent that holds it.
  static absl::StatusOr<std::unique_ptr<AgentPidFile>> Claim(const std::filesystem::path& work_dir);
  ~AgentPidFile();

  // The pid of the agent holding `work_dir`, or NotFound when none does.
  static absl::StatusOr<pid_t> Holder(const std::filesystem::path& work_dir);
  // Blocks until no agent holds `work_dir`.
  static void WaitUntilReleased(const std::filesystem::path& work_dir);

 private:
  explicit AgentPidFile(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace runyard::agent
