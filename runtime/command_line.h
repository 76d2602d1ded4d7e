#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runyard/v1/spec.pb.h"

namespace runyard::runtime {

struct CommandLine {
  std::filesystem::path executable;  // absolute
  std::vector<std::string> arguments;
};

// Finds `name` the way a shell would: as given when it holds a '/', else on `path_var`.
absl::StatusOr<std::filesystem::path> FindExecutable(const std::string& name,
                                                     const std::string& path_var);

// What to execute for `spec` inside `working_dir`: the user-managed interpreter
// (interpreter_path, else python3 on PATH) with the script and its arguments, or the
// spec's command. Errors say what is missing; an interpreter problem is
// FailedPrecondition (an environment problem), a missing script NotFound.
// A managed environment passes its own `interpreter`.
absl::StatusOr<CommandLine> BuildCommandLine(const runyard::v1::RunSpec& spec,
                                             const std::filesystem::path& working_dir,
                                             const std::string& path_var,
                                             const std::filesystem::path& interpreter = {});

// The child's environment: this process's, then PYTHONUNBUFFERED and RUNYARD_*, then the
// spec's own variables (which win).
// With `clean`, the agent's own environment is not passed on: only a standard PATH,
// HOME, LANG, USER and TMPDIR start the list.
std::map<std::string, std::string> BuildEnvironment(const runyard::v1::RunSpec& spec,
                                                    const std::string& run_id,
                                                    const std::filesystem::path& working_dir,
                                                    bool clean = false,
                                                    const std::string& user = "",
                                                    const std::filesystem::path& home = {});

// The in-run API's variables: RUNYARD_RUN_API_DIR (the run_api folder, where the SDK finds
// context.json), and `sdk_python_dir` in front of PYTHONPATH unless `sdk_python_dir` is
// empty or the spec says azureml_compat: false (absent means true).
void AddRunApiEnvironment(const runyard::v1::RunSpec& spec,
                          const std::filesystem::path& run_api_dir,
                          const std::filesystem::path& sdk_python_dir,
                          std::map<std::string, std::string>& environment);

}  // namespace runyard::runtime
