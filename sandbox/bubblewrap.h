#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace runyard::sandbox {

// How a run is walled in by bubblewrap (agent config `sandbox: bubblewrap`): the whole
// system read-only, a fresh /tmp, /proc and /dev of its own, its own pid, ipc and uts
// namespaces, the agent's files hidden, and only the run's own folders writable.
struct BubblewrapPolicy {
  std::filesystem::path bwrap;                   // absolute path of the bwrap binary
  bool network = true;                           // false: a network namespace with no interfaces
  std::vector<std::filesystem::path> hidden;     // covered by an empty tmpfs (agent work dir, config)
  std::vector<std::filesystem::path> readable;   // shown again read-only below a hidden path (the run's venv)
  std::vector<std::filesystem::path> writable;   // the run's working directory, its home
};

// bwrap's command line around `executable arguments...`. bwrap writes its JSON status
// to `status_fd`; the sandboxed command starts in `working_dir`.
std::vector<std::string> BubblewrapArguments(const BubblewrapPolicy& policy,
                                             const std::filesystem::path& working_dir, int status_fd,
                                             const std::filesystem::path& executable,
                                             const std::vector<std::string>& arguments);

// What bwrap said on its status fd: `{"child-pid": N, ...}` once the sandbox's first
// process exists (mounts not made yet), `{"exit-code": N}` when the command ran and ended.
// No exit code means the command never ran (a mount or its exec failed) and bwrap's own
// exit code is not the script's.
struct BubblewrapStatus {
  std::optional<long> child_pid;
  std::optional<int> exit_code;
};
BubblewrapStatus ParseBubblewrapStatus(std::string_view json_lines);

// Finds bwrap (a path, or a name looked up on PATH) and checks that it can build a
// sandbox here (user namespaces allowed, or root): an agent asked for a sandbox it cannot
// give refuses to start instead of running scripts unprotected.
absl::StatusOr<std::filesystem::path> CheckBubblewrap(const std::string& configured);

}  // namespace runyard::sandbox
