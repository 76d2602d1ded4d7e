#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/helper_command.h"
#include "runyard/v1/spec.pb.h"

namespace runyard::runtime {

// How the node builds managed environments (agent configuration).
struct PipSettings {
  std::string index_url;
  std::vector<std::string> extra_index_urls;
  std::vector<std::string> find_links;  // folders or URLs (a local wheelhouse)
  bool no_index = false;
  bool system_site_packages = false;  // venvs see the base interpreter's packages
};

enum class EnvironmentKind { kUserManaged, kPip, kConda };

// A run's environment reduced to what decides its content. Two runs with the same key
// share one built environment.
struct EnvironmentDefinition {
  EnvironmentKind kind = EnvironmentKind::kUserManaged;
  std::filesystem::path base_interpreter;  // pip: resolved (realpath) base python
  std::filesystem::path conda_executable;  // conda: the tool that builds it
  std::filesystem::path definition_file;   // conda: environment.yml in the working dir
  std::vector<std::string> pip_options;    // pip: index, find-links, ... options
  std::vector<std::string> requirements;   // pip: normalized lines, handed over as `-r file`
  std::filesystem::path working_dir;       // pip runs here, so "./libs/pkg" means the snapshot's
  std::string canonical;                   // the normalized definition, human-readable
  std::string key;                         // SHA-256 of `canonical`
};

// Reads `spec.environment.python` and the files it names (relative to `working_dir`, the
// unpacked snapshot) into a definition. Requirement lines are normalized (comments, blank
// lines and order do not matter; `-r` includes are followed inside the working dir); the
// base interpreter's path, version and platform, and the pip or conda settings, are part
// of the key. Errors are FailedPrecondition (EnvironmentBuildFailed) naming the problem.
// The base interpreter's identity is asked of it through `commands`.
absl::StatusOr<EnvironmentDefinition> DefineEnvironment(
    const runyard::v1::RunSpec& spec, const std::filesystem::path& working_dir,
    const std::string& default_base_python, const PipSettings& pip,
    const std::string& conda_executable, const std::string& path_var,
    common::CommandRunner* commands = common::CommandRunner::Real());

// Normalized requirement lines of a requirements text (exposed for tests).
std::vector<std::string> NormalizeRequirements(const std::string& text);

}  // namespace runyard::runtime
