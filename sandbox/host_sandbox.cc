#include "sandbox/host_sandbox.h"

namespace runyard::sandbox {
namespace {

// The command itself; nothing to pass, spare or explain.
class HostLaunch final : public SandboxedLaunch {
 public:
  explicit HostLaunch(const Command& command) : exec_{command.executable, command.arguments} {}

  const ExecLine& exec() const override { return exec_; }
  void Spawned() override {}
  pid_t SparedFromTerm(pid_t) const override { return 0; }
  void SawOutput(std::string_view) override {}
  std::string SetupError(const ProcessEnd&, const std::filesystem::path&) override { return ""; }

 private:
  ExecLine exec_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SandboxedLaunch>> HostSandbox::Prepare(
    const Command& command) const {
  return std::make_unique<HostLaunch>(command);
}

}  // namespace runyard::sandbox
