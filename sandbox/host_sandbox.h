#pragma once

#include "sandbox/sandbox.h"

namespace runyard::sandbox {

// No sandbox: the command is exec'd as it is, on the host (agent `sandbox: none`, local
// runs). The run's containment, user and rlimits still apply.
class HostSandbox final : public Sandbox {
 public:
  std::string_view name() const override { return "host"; }
  std::string Description() const override { return ""; }
  bool GivesPrivateTmp() const override { return false; }
  absl::StatusOr<std::unique_ptr<SandboxedLaunch>> Prepare(const Command& command) const override;
};

}  // namespace runyard::sandbox
