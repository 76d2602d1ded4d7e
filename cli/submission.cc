#include "cli/submission.h"

#include "absl/strings/str_cat.h"
#include "common/spec_yaml.h"

namespace runyard::cli {
namespace fs = std::filesystem;

absl::StatusOr<runyard::v1::RunSpec> BuildSpec(const SubmitFlags& flags) {
  runyard::v1::RunSpec spec;
  if (!flags.spec_file.empty()) {
    absl::StatusOr<runyard::v1::RunSpec> loaded = common::LoadRunSpecFile(flags.spec_file);
    if (!loaded.ok()) return loaded.status();
    spec = std::move(*loaded);
  }
  if (!flags.source_directory.empty()) spec.set_source_directory(flags.source_directory);
  if (spec.source_directory().empty()) spec.set_source_directory(".");
  std::string source_directory = fs::absolute(spec.source_directory()).lexically_normal().string();
  while (source_directory.size() > 1 && source_directory.back() == '/') source_directory.pop_back();
  spec.set_source_directory(source_directory);
  if (!flags.script.empty()) {
    spec.set_script(flags.script);
    spec.clear_command();
  }
  if (!flags.target.empty()) spec.set_compute_target(flags.target);
  if (spec.compute_target().empty()) spec.set_compute_target("local");
  if (!flags.experiment.empty()) spec.set_experiment(flags.experiment);
  if (spec.experiment().empty()) spec.set_experiment("default");
  if (flags.max_run_duration_seconds) spec.set_max_run_duration_seconds(*flags.max_run_duration_seconds);
  if (!flags.interpreter.empty()) {
    spec.mutable_environment()->mutable_python()->set_interpreter_path(flags.interpreter);
    spec.mutable_environment()->mutable_python()->set_user_managed_dependencies(true);
  }
  for (const std::string& assignment : flags.environment_variables) {
    const size_t eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat("--env '", assignment, "': expected NAME=VALUE"));
    }
    (*spec.mutable_environment()->mutable_environment_variables())[assignment.substr(0, eq)] =
        assignment.substr(eq + 1);
  }
  if (flags.arguments_given) {
    spec.clear_arguments();
    for (const auto& argument : flags.arguments) spec.add_arguments(argument);
  }
  if (absl::Status valid = common::ValidateRunSpec(spec); !valid.ok()) return valid;

  const fs::path source(spec.source_directory());
  if (!fs::is_directory(source)) {
    return absl::InvalidArgumentError(absl::StrCat("spec field 'source_directory': '", source.string(),
                                                   "' is not a directory"));
  }
  if (!spec.script().empty()) {
    const fs::path script = fs::path(spec.script());
    const fs::path resolved = (source / script).lexically_normal();
    const auto relative = resolved.lexically_relative(source);
    if (script.is_absolute() || relative.empty() || *relative.begin() == "..") {
      return absl::InvalidArgumentError(absl::StrCat(
          "spec field 'script': '", spec.script(), "' must be a path inside the source directory"));
    }
    if (!fs::is_regular_file(resolved)) {
      return absl::InvalidArgumentError(absl::StrCat("spec field 'script': '", spec.script(),
                                                     "' not found in source directory ", source.string()));
    }
  }
  return spec;
}

}  // namespace runyard::cli
