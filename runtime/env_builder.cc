#include "runtime/env_builder.h"

#include <cstdlib>
#include <deque>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/read_file.h"
#include "common/status_macros.h"
#include "runtime/command_line.h"
#include "runtime/launcher.h"

extern char** environ;

namespace runyard::runtime {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

std::string PathVariable() {
  const char* path = std::getenv("PATH");
  return path ? path : "/usr/local/bin:/usr/bin:/bin";
}

// Keeps the last lines of a build's output for the error message.
class Tail {
 public:
  void Add(std::string_view bytes) {
    for (char c : bytes) {
      if (c == '\n') {
        lines_.push_back(std::move(current_));
        current_.clear();
        if (lines_.size() > kLines) lines_.pop_front();
      } else {
        current_.push_back(c);
      }
    }
  }
  std::string Text() const {
    std::string text = absl::StrJoin(lines_, "\n");
    if (!current_.empty()) absl::StrAppend(&text, text.empty() ? "" : "\n", current_);
    return text;
  }

 private:
  static constexpr size_t kLines = 15;
  std::deque<std::string> lines_;
  std::string current_;
};

// One build step, as a supervised process (own session, deadline, cancel), its output
// going to the environment log. `capture` gets stdout+stderr too when given.
class Steps {
 public:
  Steps(RunLog& log, CancelToken& cancel, Clock::time_point deadline, std::chrono::seconds timeout)
      : log_(log), cancel_(cancel), deadline_(deadline), timeout_(timeout) {}

  absl::Status Run(const std::string& what, const std::vector<std::string>& argv,
                   const fs::path& cwd, std::string* capture = nullptr) {
    log_.Line("$ " + absl::StrJoin(argv, " "));
    LaunchRequest request;
    request.executable = argv[0];
    request.arguments.assign(argv.begin() + 1, argv.end());
    request.working_dir = cwd;
    for (char** entry = environ; *entry != nullptr; ++entry) {
      std::string_view line(*entry);
      const size_t eq = line.find('=');
      if (eq != std::string_view::npos)
        request.environment[std::string(line.substr(0, eq))] = line.substr(eq + 1);
    }
    request.environment["PIP_DISABLE_PIP_VERSION_CHECK"] = "1";
    request.environment["PIP_NO_INPUT"] = "1";
    request.environment["PYTHONUNBUFFERED"] = "1";
    request.kill_grace = std::chrono::seconds(5);
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
    request.max_duration = std::max(left, std::chrono::milliseconds(1));
    LaunchResult result = LaunchAndWait(
        request,
        [&](std::string_view bytes) {
          if (capture) {
            capture->append(bytes);
          } else {
            log_.Write(bytes);
          }
          tail_.Add(bytes);
        },
        cancel_);
    if (!result.started) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, ": cannot start ", argv[0], ": ", result.start_error));
    }
    if (result.canceled) return absl::CancelledError("canceled while " + what);
    if (result.deadline_exceeded) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, " did not finish within the environment setup timeout (",
                       timeout_.count(), " s)\n", tail_.Text()));
    }
    if (!result.exited || result.exit_code != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, " failed (",
                       result.exited ? absl::StrCat("exit code ", result.exit_code)
                                     : absl::StrCat("signal ", result.term_signal),
                       "):\n", tail_.Text()));
    }
    return absl::OkStatus();
  }

 private:
  RunLog& log_;
  CancelToken& cancel_;
  Clock::time_point deadline_;
  std::chrono::seconds timeout_;
  Tail tail_;
};

absl::Status WriteFile(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  return out ? absl::OkStatus() : absl::ResourceExhaustedError("cannot write " + file.string());
}

// Builds the environment of `definition` into `folder`/env; fills packages.txt.
absl::Status Build(const EnvironmentDefinition& definition, const fs::path& folder,
                   const PipSettings& pip, Steps& steps) {
  const fs::path env = folder / "env";
  const fs::path meta = folder / ".runyard";
  RETURN_IF_ERROR(WriteFile(meta / "definition.txt", definition.canonical));
  std::string packages;
  if (definition.kind == EnvironmentKind::kPip) {
    std::vector<std::string> venv = {definition.base_interpreter.string(), "-m", "venv"};
    if (pip.system_site_packages) venv.push_back("--system-site-packages");
    venv.push_back(env.string());
    RETURN_IF_ERROR(steps.Run("creating the venv", venv, folder));
    const std::string python = (env / "bin" / "python").string();
    if (!definition.requirements.empty()) {
      const fs::path requirements = meta / "requirements.txt";
      RETURN_IF_ERROR(WriteFile(requirements, absl::StrJoin(definition.requirements, "\n") + "\n"));
      std::vector<std::string> install = {python, "-m", "pip", "install"};
      install.insert(install.end(), definition.pip_options.begin(), definition.pip_options.end());
      install.insert(install.end(), {"-r", requirements.string()});
      RETURN_IF_ERROR(steps.Run("pip install", install, definition.working_dir));
    }
    const std::vector<std::string> freeze = {python, "-m", "pip", "freeze", "--all"};
    RETURN_IF_ERROR(steps.Run("pip freeze", freeze, folder, &packages));
  } else {
    const std::string tool = definition.conda_executable.string();
    const bool micromamba =
        definition.conda_executable.filename().string().find("micromamba") != std::string::npos;
    std::vector<std::string> create =
        micromamba ? std::vector<std::string>{tool,
                                              "create",
                                              "--yes",
                                              "--prefix",
                                              env.string(),
                                              "--file",
                                              definition.definition_file.string()}
                   : std::vector<std::string>{tool,
                                              "env",
                                              "create",
                                              "--prefix",
                                              env.string(),
                                              "--file",
                                              definition.definition_file.string()};
    RETURN_IF_ERROR(steps.Run("creating the conda environment", create, folder));
    const std::vector<std::string> list = {tool, "list", "--prefix", env.string()};
    RETURN_IF_ERROR(steps.Run("listing the conda environment", list, folder, &packages));
    if (!fs::exists(env / "bin" / "python")) {
      return absl::FailedPreconditionError(
          "the conda environment has no bin/python: add python to the dependencies of " +
          definition.definition_file.filename().string());
    }
  }
  return WriteFile(meta / "packages.txt", packages);
}

}  // namespace

absl::StatusOr<PreparedEnvironment> PrepareEnvironment(const runyard::v1::RunSpec& spec,
                                                       const fs::path& working_dir,
                                                       EnvironmentCache& cache,
                                                       const EnvironmentSettings& settings,
                                                       CancelToken& cancel, RunLog& log) {
  const auto deadline = Clock::now() + settings.setup_timeout;
  ASSIGN_OR_RETURN(const EnvironmentDefinition definition,
                   DefineEnvironment(spec, working_dir, settings.default_base_python, settings.pip,
                                     settings.conda_executable, PathVariable(), settings.commands));
  PreparedEnvironment prepared;
  prepared.kind = definition.kind;
  if (definition.kind == EnvironmentKind::kUserManaged) return prepared;

  prepared.key = definition.key;
  log.Line(absl::StrCat("environment ", definition.key.substr(0, 12), " defined by:\n",
                        definition.canonical));
  ASSIGN_OR_RETURN(prepared.in_use, cache.Use(definition.key));

  std::optional<fs::path> found = cache.Find(definition.key);
  if (!found) {
    const auto on_wait = [&] {
      log.Line("another run is building this environment: waiting for it");
    };
    ASSIGN_OR_RETURN(const std::unique_ptr<EnvironmentCache::Lock> building,
                     cache.LockForBuild(definition.key, cancel, on_wait));
    found = cache.Find(definition.key);  // built by the run we waited for
    if (!found) {
      ASSIGN_OR_RETURN(const fs::path folder, cache.NewBuildFolder(definition.key));
      log.Line("building it in " + folder.string());
      Steps steps(log, cancel, deadline, settings.setup_timeout);
      const auto started = Clock::now();
      absl::Status built = Build(definition, folder, settings.pip, steps);
      if (built.ok()) built = cache.Publish(definition.key, folder);
      if (!built.ok()) {
        std::error_code ec;
        fs::remove_all(folder, ec);  // never leave a half-built environment behind
        return built;
      }
      log.Line(absl::StrCat(
          "built in ",
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count(),
          " ms and published"));
      found = cache.Find(definition.key);
      if (!found) return absl::InternalError("environment vanished right after it was published");
    } else {
      prepared.reused = true;
      log.Line("built meanwhile by another run: reusing it");
    }
  } else {
    prepared.reused = true;
    log.Line("found in the node's environment cache: reusing it");
  }
  const fs::path env = *found / "env";
  prepared.interpreter = env / "bin" / "python";
  prepared.packages = common::ReadFileOrEmpty(*found / ".runyard" / "packages.txt");
  prepared.variables["PATH"] = (env / "bin").string() + ":" + PathVariable();
  prepared.variables[definition.kind == EnvironmentKind::kPip ? "VIRTUAL_ENV" : "CONDA_PREFIX"] =
      env.string();
  return prepared;
}

}  // namespace runyard::runtime
