#pragma once

#include <filesystem>
#include <map>
#include <string>

namespace runyard::cli {

// Where the source came from, as run properties (like Azure ML's azureml.git.*):
// runyard.git.repository_uri, .branch, .commit, .dirty ("true"/"false"). Empty when the
// folder is not in a git work tree or git is not installed.
std::map<std::string, std::string> GitProperties(const std::filesystem::path& source_directory);

}  // namespace runyard::cli
