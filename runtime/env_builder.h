#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/helper_command.h"
#include "runtime/cancel_token.h"
#include "runtime/env_cache.h"
#include "runtime/env_definition.h"
#include "runtime/run_log.h"
#include "runyard/v1/spec.pb.h"

namespace runyard::runtime {

// How this node builds environments (agent configuration; defaults for local runs).
struct EnvironmentSettings {
  std::string default_base_python = "python3";
  PipSettings pip;
  std::string conda_executable;  // empty: micromamba, mamba or conda from PATH
  std::chrono::seconds setup_timeout{1800};
  // Runs the short probes (the base interpreter's version); the build steps themselves go
  // through runtime's launcher (logged, cancelable, under the setup timeout).
  common::CommandRunner* commands = common::CommandRunner::Real();
};

// The environment a run executes in.
struct PreparedEnvironment {
  EnvironmentKind kind = EnvironmentKind::kUserManaged;
  std::filesystem::path interpreter;             // empty: user-managed, resolved later
  std::map<std::string, std::string> variables;  // PATH, VIRTUAL_ENV / CONDA_PREFIX
  std::string key;
  bool reused = false;                             // found built (maybe by another run)
  std::string packages;                            // pip freeze / conda list
  std::unique_ptr<EnvironmentCache::Lock> in_use;  // keeps it from eviction during the run
};

// Gives a run its environment: nothing to do for a user-managed interpreter; for pip or
// conda, the cached environment of the same definition, or a new one built once (other
// runs wanting it wait for that build), logged to `log` and bounded by the setup timeout.
// Errors: FailedPrecondition with what went wrong and the end of the build log
// (EnvironmentBuildFailed); Cancelled when the run was canceled meanwhile.
absl::StatusOr<PreparedEnvironment> PrepareEnvironment(const runyard::v1::RunSpec& spec,
                                                       const std::filesystem::path& working_dir,
                                                       EnvironmentCache& cache,
                                                       const EnvironmentSettings& settings,
                                                       CancelToken& cancel, RunLog& log);

}  // namespace runyard::runtime
