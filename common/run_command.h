#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace runyard::common {

struct CommandResult {
  int exit_code = -1;   // -1 when killed by a signal
  std::string output;   // stdout (and stderr when merged)
};

// Runs a short helper command (git, python -c ...) to completion and captures its stdout
// (stderr too with `merge_stderr`, else discarded). argv[0] is searched on PATH. For
// long, cancelable or deadline-bound processes use runtime's launcher instead.
absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv, bool merge_stderr = false);

}  // namespace runyard::common
