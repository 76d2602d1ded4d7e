#include "runtime/env_definition.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/digest.h"
#include "common/helper_command.h"
#include "common/relative_path.h"
#include "common/status_macros.h"
#include "runtime/command_line.h"

namespace runyard::runtime {
namespace fs = std::filesystem;
namespace {

absl::Status Problem(const std::string& message) { return absl::FailedPreconditionError(message); }

std::string Trim(std::string text) {
  const size_t start = text.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) return "";
  const size_t end = text.find_last_not_of(" \t\r\n");
  return text.substr(start, end - start + 1);
}

// A file the spec names, which must be inside the working directory (the snapshot).
absl::StatusOr<std::string> ReadSpecFile(const fs::path& working_dir, const std::string& relative,
                                         const std::string& field) {
  if (absl::Status ok = common::CheckRelativePath(relative); !ok.ok()) {
    return Problem(absl::StrCat("environment.python.", field, ": '", relative,
                                "' must be a relative path inside the source directory"));
  }
  std::ifstream in(working_dir / relative, std::ios::binary);
  if (!in) {
    return Problem(
        absl::StrCat("environment.python.", field, ": '", relative, "' is not in the snapshot"));
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// "-r x", "-rx", "--requirement x", "--requirement=x" → {"-r", "x"}; same for -c /
// --constraint; anything else → {"", ""}.
std::pair<std::string, std::string> SplitFileOption(const std::string& line) {
  for (const auto& [option, short_form, long_form] :
       {std::tuple{"-r", "-r", "--requirement"}, std::tuple{"-c", "-c", "--constraint"}}) {
    for (const std::string prefix : {std::string(long_form), std::string(short_form)}) {
      if (line.rfind(prefix, 0) != 0) continue;
      std::string rest = line.substr(prefix.size());
      if (prefix.size() > 2 && !rest.empty() && rest[0] != ' ' && rest[0] != '=')
        continue;  // --requirements?
      if (!rest.empty() && (rest[0] == '=' || rest[0] == ' ')) rest.erase(0, 1);
      rest = Trim(rest);
      if (!rest.empty()) return {option, rest};
    }
  }
  return {"", ""};
}

// Requirement lines, following `-r file` includes (inside the working dir, no cycles).
absl::Status CollectRequirements(const fs::path& working_dir, const std::string& relative,
                                 int depth, std::vector<std::string>* lines) {
  if (depth > 8) return Problem("pip_requirements_file: '-r' includes nest too deep");
  ASSIGN_OR_RETURN(const std::string text,
                   ReadSpecFile(working_dir, relative, "pip_requirements_file"));
  for (const std::string& line : NormalizeRequirements(text)) {
    const auto [option, argument] = SplitFileOption(line);
    if (option.empty()) {
      lines->push_back(line);
      continue;
    }
    const std::string nested =
        (fs::path(relative).parent_path() / argument).lexically_normal().string();
    if (option == "-r") {
      RETURN_IF_ERROR(CollectRequirements(working_dir, nested, depth + 1, lines));
      continue;
    }
    // A constraints file: its content is part of the key, and pip gets its full path.
    ASSIGN_OR_RETURN(const std::string constraints,
                     ReadSpecFile(working_dir, nested, "pip_requirements_file (-c)"));
    for (const std::string& constraint : NormalizeRequirements(constraints)) {
      lines->push_back("# constraint " + nested + ": " + constraint);
    }
    lines->push_back("-c " + nested);  // made absolute for pip by DefineEnvironment
  }
  return absl::OkStatus();
}

// An interpreter starts in tens of milliseconds; one that hangs (a broken site-packages,
// a dead network mount) must not hold the run's preparation forever.
constexpr auto kInterpreterProbeTimeout = std::chrono::seconds(60);

// "3.11.2 (main, ...) [GCC 12.2.0]\nLinux-6.1.0-...-x86_64-with-glibc2.36" of an interpreter.
absl::StatusOr<std::string> InterpreterIdentity(const fs::path& python,
                                                common::CommandRunner& commands) {
  common::HelperCommand probe;
  probe.argv = {python.string(), "-c",
                "import sys, platform; print(sys.version); print(platform.platform())"};
  probe.timeout = kInterpreterProbeTimeout;
  absl::StatusOr<common::HelperCommandResult> result = commands.Run(probe);
  if (!result.ok() || !result->ok()) {
    const bool hung = result.ok() && result->timed_out;
    return Problem(absl::StrCat(
        "python interpreter '", python.string(), "' does not run",
        hung ? absl::StrCat(" (no answer within ", kInterpreterProbeTimeout.count(), " s)") : ""));
  }
  return Trim(result->output);
}

// A requirement that names something inside the snapshot ("./pkg", "-e .", "wheels/x.whl")
// installs that content: its digest belongs in the key, or a changed local package would
// reuse a stale environment. Files hash as they are; folders as their sorted tree.
std::optional<std::string> LocalContentDigest(const fs::path& working_dir,
                                              const std::string& line) {
  std::string target = line.rfind("-e ", 0) == 0 ? Trim(line.substr(3)) : line;
  if (target.rfind("file:", 0) == 0) target = target.substr(5);
  target = target.substr(0, target.find_first_of(" ;["));
  const bool looks_local = target.rfind("./", 0) == 0 || target.rfind("../", 0) == 0 ||
                           target == "." || target.find('/') != std::string::npos ||
                           target.ends_with(".whl") || target.ends_with(".tar.gz") ||
                           target.ends_with(".zip");
  if (!looks_local || target.empty() || target[0] == '/') return std::nullopt;
  std::error_code ec;
  const fs::path path = (working_dir / target).lexically_normal();
  const auto relative = path.lexically_relative(working_dir);
  if (relative.empty() || *relative.begin() == ".." || !fs::exists(path, ec)) return std::nullopt;
  if (fs::is_regular_file(path, ec)) return common::Sha256File(path).value_or("unreadable");
  std::vector<std::string> entries;
  for (auto it = fs::recursive_directory_iterator(path, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name == "__pycache__" || name == ".git" || name == "outputs" || name == "logs") {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) {
      entries.push_back(it->path().lexically_relative(path).string() + " " +
                        common::Sha256File(it->path()).value_or("unreadable"));
    }
  }
  std::sort(entries.begin(), entries.end());
  return common::Sha256Hex(absl::StrJoin(entries, "\n"));
}

// pip settings from the environment of this process, which pip would also read; they
// shape what gets installed, so they are part of the key.
std::vector<std::string> PipEnvironmentSettings() {
  std::vector<std::string> lines;
  for (const char* name : {"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX",
                           "PIP_CONSTRAINT", "PIP_PRE", "PIP_ONLY_BINARY", "PIP_NO_BINARY"}) {
    if (const char* value = std::getenv(name); value != nullptr && *value != '\0') {
      lines.push_back(absl::StrCat("pip_env: ", name, "=", value));
    }
  }
  return lines;
}

}  // namespace

std::vector<std::string> NormalizeRequirements(const std::string& text) {
  std::set<std::string> unique;
  std::istringstream lines(text);
  std::string logical;
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // A trailing backslash continues the line (pip-compile's "--hash" lists), as in pip.
    if (!line.empty() && line.back() == '\\') {
      line.pop_back();
      logical += line + " ";
      continue;
    }
    logical += line;
    // A comment starts at a '#' at the start or after whitespace, as pip reads it (a '#'
    // inside a URL fragment follows no space).
    for (size_t i = 0; i < logical.size(); ++i) {
      if (logical[i] == '#' && (i == 0 || logical[i - 1] == ' ' || logical[i - 1] == '\t')) {
        logical.resize(i);
        break;
      }
    }
    // Inner runs of whitespace collapse, so re-wrapped continuations compare equal.
    std::istringstream words(logical);
    std::string normalized;
    for (std::string word; words >> word;) normalized += (normalized.empty() ? "" : " ") + word;
    if (!normalized.empty()) unique.insert(normalized);
    logical.clear();
  }
  return {unique.begin(), unique.end()};
}

absl::StatusOr<EnvironmentDefinition> DefineEnvironment(const runyard::v1::RunSpec& spec,
                                                        const fs::path& working_dir,
                                                        const std::string& default_base_python,
                                                        const PipSettings& pip,
                                                        const std::string& conda_executable,
                                                        const std::string& path_var,
                                                        common::CommandRunner* commands) {
  const auto& python = spec.environment().python();
  const bool wants_pip = !python.pip_requirements_file().empty() || !python.pip_packages().empty();
  const bool wants_conda = !python.conda_dependencies_file().empty();
  EnvironmentDefinition definition;
  if (python.user_managed_dependencies() || (!wants_pip && !wants_conda)) {
    definition.kind = EnvironmentKind::kUserManaged;
    return definition;
  }
  if (wants_pip && wants_conda) {
    return Problem(
        "environment.python: give pip requirements or a conda file, not both "
        "(list pip packages under the conda file's 'pip:' section)");
  }

  std::vector<std::string> canonical;
  if (wants_conda) {
    definition.kind = EnvironmentKind::kConda;
    // The configured tool, else the first of micromamba, mamba, conda on PATH.
    std::vector<std::string> candidates = {conda_executable};
    if (conda_executable.empty()) candidates = {"micromamba", "mamba", "conda"};
    for (const auto& candidate : candidates) {
      absl::StatusOr<fs::path> found = FindExecutable(candidate, path_var);
      if (found.ok()) {
        definition.conda_executable = *found;
        break;
      }
    }
    if (definition.conda_executable.empty()) {
      return Problem(
          conda_executable.empty()
              ? "conda_dependencies_file needs conda, mamba or micromamba: none is configured "
                "(agent conda_executable) and none is on PATH"
              : absl::StrCat("conda executable '", conda_executable, "' was not found"));
    }
    ASSIGN_OR_RETURN(
        const std::string file,
        ReadSpecFile(working_dir, python.conda_dependencies_file(), "conda_dependencies_file"));
    definition.definition_file = working_dir / python.conda_dependencies_file();
    canonical = {"kind: conda",
                 "tool: " + fs::path(definition.conda_executable).filename().string()};
    std::istringstream lines(file);
    for (std::string line; std::getline(lines, line);) {
      if (Trim(line).empty() || Trim(line)[0] == '#') continue;
      while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
      canonical.push_back("yaml: " + line);
    }
  } else {
    definition.kind = EnvironmentKind::kPip;
    const std::string base =
        python.interpreter_path().empty() ? default_base_python : python.interpreter_path();
    absl::StatusOr<fs::path> found = FindExecutable(base, path_var);
    if (!found.ok())
      return Problem(absl::StrCat("base python interpreter: ", found.status().message()));
    std::error_code ec;
    definition.base_interpreter = fs::canonical(*found, ec);
    if (ec) definition.base_interpreter = *found;
    ASSIGN_OR_RETURN(const std::string identity,
                     InterpreterIdentity(definition.base_interpreter, *commands));

    std::vector<std::string> requirements;
    if (!python.pip_requirements_file().empty()) {
      RETURN_IF_ERROR(
          CollectRequirements(working_dir, python.pip_requirements_file(), 0, &requirements));
    }
    for (const auto& package : python.pip_packages()) {
      for (const auto& line : NormalizeRequirements(package)) requirements.push_back(line);
    }
    std::sort(requirements.begin(), requirements.end());
    requirements.erase(std::unique(requirements.begin(), requirements.end()), requirements.end());

    canonical = {
        "kind: pip",
        "base: " + definition.base_interpreter.string(),
        "python: " + identity,
        "system_site_packages: " + std::string(pip.system_site_packages ? "true" : "false"),
        "index_url: " + pip.index_url,
        "extra_index_urls: " + absl::StrJoin(pip.extra_index_urls, " "),
        "find_links: " + absl::StrJoin(pip.find_links, " "),
        "no_index: " + std::string(pip.no_index ? "true" : "false")};
    for (const auto& line : requirements) {
      canonical.push_back("requirement: " + line);
      if (auto digest = LocalContentDigest(working_dir, line))
        canonical.push_back("  content: " + *digest);
    }
    for (const auto& line : PipEnvironmentSettings()) canonical.push_back(line);

    auto& options = definition.pip_options;
    if (!pip.index_url.empty()) options.insert(options.end(), {"--index-url", pip.index_url});
    for (const auto& url : pip.extra_index_urls)
      options.insert(options.end(), {"--extra-index-url", url});
    for (const auto& link : pip.find_links) options.insert(options.end(), {"--find-links", link});
    if (pip.no_index) options.push_back("--no-index");
    // pip reads our copy of the lines from elsewhere: give it constraint files by full path.
    for (const auto& line : requirements) {
      definition.requirements.push_back(
          line.rfind("-c ", 0) == 0 ? "-c " + (working_dir / line.substr(3)).string() : line);
    }
    definition.working_dir = working_dir;
  }
  definition.canonical = absl::StrJoin(canonical, "\n") + "\n";
  definition.key = common::Sha256Hex(definition.canonical);
  return definition;
}

}  // namespace runyard::runtime
