#include "runtime/command_line.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

extern char** environ;

namespace runyard::runtime {
namespace fs = std::filesystem;

absl::StatusOr<fs::path> FindExecutable(const std::string& name, const std::string& path_var) {
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) != 0 || fs::is_directory(name)) {
      return absl::NotFoundError(absl::StrCat("'", name, "' does not exist or is not executable"));
    }
    return fs::absolute(name);
  }
  for (absl::string_view dir : absl::StrSplit(path_var, ':', absl::SkipEmpty())) {
    fs::path candidate = fs::path(std::string(dir)) / name;
    if (::access(candidate.c_str(), X_OK) == 0 && !fs::is_directory(candidate)) {
      return fs::absolute(candidate);
    }
  }
  return absl::NotFoundError(absl::StrCat("'", name, "' was not found on PATH"));
}

absl::StatusOr<CommandLine> BuildCommandLine(const runyard::v1::RunSpec& spec,
                                             const fs::path& working_dir,
                                             const std::string& path_var,
                                             const fs::path& interpreter_override) {
  CommandLine line;
  if (!spec.command().empty()) {
    absl::StatusOr<fs::path> exe = FindExecutable(spec.command(0), path_var);
    if (!exe.ok()) {
      return absl::NotFoundError(absl::StrCat("command: ", exe.status().message()));
    }
    line.executable = *exe;
    line.arguments.assign(spec.command().begin() + 1, spec.command().end());
  } else {
    const auto& python = spec.environment().python();
    const std::string interpreter = !interpreter_override.empty()        ? interpreter_override.string()
                                    : python.interpreter_path().empty() ? "python3"
                                                                        : python.interpreter_path();
    absl::StatusOr<fs::path> exe = FindExecutable(interpreter, path_var);
    if (!exe.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("python interpreter: ", exe.status().message()));
    }
    if (!fs::is_regular_file(working_dir / spec.script())) {
      return absl::NotFoundError(
          absl::StrCat("script '", spec.script(), "' is not in the snapshot"));
    }
    line.executable = *exe;
    line.arguments.push_back(spec.script());
  }
  line.arguments.insert(line.arguments.end(), spec.arguments().begin(), spec.arguments().end());
  return line;
}

std::map<std::string, std::string> BuildEnvironment(const runyard::v1::RunSpec& spec,
                                                    const std::string& run_id,
                                                    const fs::path& working_dir, bool clean,
                                                    const std::string& user, const fs::path& home) {
  std::map<std::string, std::string> env;
  if (clean) {
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    env["LANG"] = "C.UTF-8";
    env["TMPDIR"] = "/tmp";
    if (!home.empty()) env["HOME"] = home.string();
    if (!user.empty()) env["USER"] = env["LOGNAME"] = user;
  } else {
    for (char** entry = environ; *entry != nullptr; ++entry) {
      std::string_view line(*entry);
      const size_t eq = line.find('=');
      if (eq == std::string_view::npos) continue;
      env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
    }
  }
  env["PYTHONUNBUFFERED"] = "1";
  env["RUNYARD_RUN_ID"] = run_id;
  env["RUNYARD_EXPERIMENT"] = spec.experiment();
  env["RUNYARD_OUTPUT_DIR"] = (working_dir / "outputs").string();
  env["RUNYARD_LOG_DIR"] = (working_dir / "logs").string();
  for (const auto& [name, value] : spec.environment().environment_variables()) env[name] = value;
  return env;
}

void AddRunApiEnvironment(const runyard::v1::RunSpec& spec, const fs::path& run_api_dir,
                          const fs::path& sdk_python_dir,
                          std::map<std::string, std::string>& environment) {
  environment["RUNYARD_RUN_API_DIR"] = run_api_dir.string();
  const bool wanted = !spec.has_azureml_compat() || spec.azureml_compat();
  if (!wanted || sdk_python_dir.empty()) return;
  // In front: `import runyard` / `azureml.core` find the SDK; the script's own entries
  // (the spec's or the environment's PYTHONPATH) stay after it.
  std::string& path = environment["PYTHONPATH"];
  path = path.empty() ? sdk_python_dir.string() : sdk_python_dir.string() + ":" + path;
}

}  // namespace runyard::runtime
