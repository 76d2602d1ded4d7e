#pragma once

// A sandbox::Sandbox that wraps nothing: the command is exec'd as it is, and the test sets
// what Prepare, SparedFromTerm and SetupError answer, and reads what the launcher called.
// Drives runtime/launcher.cc through the interface without bubblewrap.

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sandbox/sandbox.h"

namespace runyard::fakes {

class FakeSandbox final : public sandbox::Sandbox {
 public:
  // The child gets a pipe's write end under this number when `opens_pipe`.
  static constexpr int kPipeFd = 3;

  // What the launcher did with the launches of this sandbox (read once LaunchAndWait
  // returned, or from its callbacks: all on the launcher's thread).
  struct Calls {
    int prepared = 0;
    int spawned = 0;
    // `opens_pipe`: the child had written to its pipe when Spawned was called, so Spawned
    // came after the spawn.
    bool child_wrote_before_spawned = false;
    pid_t first_process_asked = 0;          // what SparedFromTerm was given
    std::string output;                     // what SawOutput got
    std::vector<sandbox::ProcessEnd> ends;  // what SetupError got
  };

  // Set before a launch.
  absl::Status prepare_error;         // not OK: Prepare fails with it
  bool opens_pipe = false;            // a pipe, its write end passed as kPipeFd
  bool spares_first_process = false;  // SparedFromTerm answers the run's first process
  std::string setup_error;            // what SetupError answers

  const Calls& calls() const { return *calls_; }

  std::string_view name() const override { return "fake"; }
  std::string Description() const override { return ""; }
  bool GivesPrivateTmp() const override { return false; }

  absl::StatusOr<std::unique_ptr<sandbox::SandboxedLaunch>> Prepare(
      const sandbox::Command& command) const override {
    ++calls_->prepared;
    if (!prepare_error.ok()) return prepare_error;
    auto launch = std::make_unique<Launch>(*this, command);
    if (opens_pipe) {
      // A pipe that cannot be made (EMFILE) fails the Prepare, as a real sandbox's would.
      if (absl::Status opened = launch->OpenPipe(); !opened.ok()) return opened;
    }
    return launch;
  }

 private:
  class Launch final : public sandbox::SandboxedLaunch {
   public:
    Launch(const FakeSandbox& sandbox, const sandbox::Command& command)
        : sandbox_(sandbox), exec_{command.executable, command.arguments} {}
    ~Launch() override {
      for (int fd : pipe_) {
        if (fd >= 0) ::close(fd);
      }
    }

    absl::Status OpenPipe() {
      if (::pipe2(pipe_, O_CLOEXEC) != 0) return absl::InternalError("pipe2 failed");
      exec_.inherit_fd = pipe_[1];
      exec_.inherit_as = kPipeFd;
      return absl::OkStatus();
    }

    const sandbox::ExecLine& exec() const override { return exec_; }

    void Spawned() override {
      ++sandbox_.calls_->spawned;
      if (pipe_[1] < 0) return;
      ::close(pipe_[1]);  // the child holds its copy now
      pipe_[1] = -1;
      pollfd entry{pipe_[0], POLLIN, 0};
      sandbox_.calls_->child_wrote_before_spawned = ::poll(&entry, 1, 10'000) == 1;
    }

    pid_t SparedFromTerm(pid_t first_process) const override {
      sandbox_.calls_->first_process_asked = first_process;
      return sandbox_.spares_first_process ? first_process : 0;
    }

    void SawOutput(std::string_view bytes) override { sandbox_.calls_->output.append(bytes); }

    std::string SetupError(const sandbox::ProcessEnd& end,
                           const std::filesystem::path& /*output_file*/) override {
      sandbox_.calls_->ends.push_back(end);
      return sandbox_.setup_error;
    }

   private:
    const FakeSandbox& sandbox_;
    sandbox::ExecLine exec_;
    int pipe_[2] = {-1, -1};
  };

  // Prepare is const (the interface's); what it records is not the sandbox's state.
  std::unique_ptr<Calls> calls_ = std::make_unique<Calls>();
};

}  // namespace runyard::fakes
