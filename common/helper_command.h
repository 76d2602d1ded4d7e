#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace runyard::common {

// A short helper command that runyard itself runs (git, nvidia-smi, an interpreter's
// version probe, bwrap --version): not a user's run, which runtime's launcher starts.
struct HelperCommand {
  std::vector<std::string> argv;  // argv[0] is searched on the caller's PATH
  // Killed (its whole process group) when it runs longer; the result says timed_out.
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  // Output past this many bytes (of each stream) is read and dropped, so a chatty helper
  // cannot fill memory or block on a full pipe.
  size_t max_output_bytes = 4 << 20;
  bool merge_stderr = false;                               // stderr into `output`
  std::optional<std::filesystem::path> working_directory;  // else the caller's
  // Variables set (or replaced) on top of the caller's environment.
  std::map<std::string, std::string> environment;
};

struct HelperCommandResult {
  bool timed_out = false;  // killed at the timeout; the output is what came before
  int exit_code = -1;      // -1 when killed by a signal (or timed out)
  std::string output;      // stdout (and stderr when merged)
  std::string errors;      // stderr unless merged
  bool ok() const { return !timed_out && exit_code == 0; }
};

// The one way runyard runs a helper command, supervised: stdin is /dev/null, the command
// gets its own process group, its output is captured up to a bound, it is killed at its
// timeout, and it is always waited for. Nothing of it outlives it: what it leaves running in
// its group when it exits is killed then (a process that left the group and holds the output
// open is read from until the timeout). An interface so that tests can answer for a
// command (tests/fakes/fake_command_runner.h).
class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // NotFound when argv[0] cannot be started (missing, not executable); FailedPrecondition
  // when working_directory is not a folder.
  virtual absl::StatusOr<HelperCommandResult> Run(const HelperCommand& command) = 0;

  // The real runner (posix_spawn); never null, never destroyed.
  static CommandRunner* Real();
};

// CommandRunner::Real()->Run(command).
absl::StatusOr<HelperCommandResult> RunHelperCommand(const HelperCommand& command);

}  // namespace runyard::common
