#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "cli/local_backend.h"
#include "runtime/cancel_token.h"

namespace runyard::cli {

struct LocalExecutionOptions {
  std::chrono::milliseconds kill_grace{std::chrono::seconds(30)};
  // Gets the script's output as it is produced (runyard run prints it).
  std::function<void(std::string_view)> on_output;
};

// Runs a queued local run in this process through the same runtime the agent uses,
// holding it under a lease like an agent would. A cancel arrives through `cancel` (Ctrl-C)
// or through the store (runyard cancel from another shell). Returns the ended run.
absl::StatusOr<runyard::v1::Run> ExecuteLocalRun(LocalBackend& backend, const std::string& run_id,
                                                 runtime::CancelToken& cancel,
                                                 const LocalExecutionOptions& options);

}  // namespace runyard::cli
