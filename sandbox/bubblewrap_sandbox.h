#pragma once

#include "sandbox/bubblewrap.h"
#include "sandbox/sandbox.h"

namespace runyard::sandbox {

// Each run inside a bubblewrap sandbox (agent `sandbox: bubblewrap`): the process started
// is bwrap, which builds the sandbox of `policy` and runs the command in it. bwrap reports
// the command's exit code on a status pipe, so a sandbox that could not be built is told
// apart from the script's own exit code, with bwrap's words (SetupError).
class BubblewrapSandbox final : public Sandbox {
 public:
  explicit BubblewrapSandbox(BubblewrapPolicy policy) : policy_(std::move(policy)) {}

  std::string_view name() const override { return "bubblewrap"; }
  // "sandboxed by bubblewrap: system read-only, writable <folders>[, no network]".
  std::string Description() const override;
  bool GivesPrivateTmp() const override { return true; }
  absl::StatusOr<std::unique_ptr<SandboxedLaunch>> Prepare(const Command& command) const override;

  const BubblewrapPolicy& policy() const { return policy_; }

  // The descriptor number bwrap writes its JSON status to, in the child.
  static constexpr int kStatusFd = 3;

 private:
  BubblewrapPolicy policy_;
};

}  // namespace runyard::sandbox
