#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace runyard::agent {

struct BoundedCommandResult {
  bool timed_out = false;  // killed at the deadline; the output is what came before
  int exit_code = -1;      // -1 when killed by a signal (or timed out)
  std::string output;      // stdout
  std::string errors;      // stderr
};

// Runs a probe such as nvidia-smi, which can hang with its driver, and gives up at
// `timeout`: its process group is killed then. argv[0] is searched on PATH; NotFound when
// it cannot be started (missing, not executable). stdin is /dev/null.
absl::StatusOr<BoundedCommandResult> RunBoundedCommand(const std::vector<std::string>& argv,
                                                       std::chrono::milliseconds timeout);

}  // namespace runyard::agent
