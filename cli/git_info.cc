#include "cli/git_info.h"

#include <cstdlib>
#include <optional>
#include <vector>

#include "common/helper_command.h"

namespace runyard::cli {
namespace {

// git answers these in milliseconds; a repository on a hung network file system must not
// hold a submit for long (the run then simply has no git properties).
constexpr auto kGitTimeout = std::chrono::seconds(20);

// Runs git with `args` in `dir`; its stdout without the trailing newline, or nothing on failure.
std::optional<std::string> Git(const std::filesystem::path& dir, std::vector<std::string> args) {
  common::HelperCommand git;
  git.argv = {"git", "-C", dir.string()};
  git.argv.insert(git.argv.end(), args.begin(), args.end());
  git.timeout = kGitTimeout;
  absl::StatusOr<common::HelperCommandResult> result = common::RunHelperCommand(git);
  if (!result.ok() || !result->ok()) return std::nullopt;
  std::string text = result->output;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

// Whether `dir` or a folder above it holds `.git` (a folder, or a file in worktrees and
// submodules). Checked before starting git at all: each git process costs a submit
// milliseconds, and most snapshot folders outside a repository would pay for nothing.
// GIT_DIR set: git decides.
bool MayBeInGitRepository(const std::filesystem::path& dir) {
  if (std::getenv("GIT_DIR") != nullptr) return true;
  std::error_code ec;
  std::filesystem::path folder = std::filesystem::absolute(dir, ec);
  if (ec) return true;
  for (;;) {
    if (std::filesystem::exists(folder / ".git", ec)) return true;
    if (!folder.has_parent_path() || folder.parent_path() == folder) return false;
    folder = folder.parent_path();
  }
}

}  // namespace

std::map<std::string, std::string> GitProperties(const std::filesystem::path& source_directory) {
  std::map<std::string, std::string> properties;
  if (!MayBeInGitRepository(source_directory)) return properties;
  auto inside = Git(source_directory, {"rev-parse", "--is-inside-work-tree"});
  if (!inside || *inside != "true") return properties;
  if (auto uri = Git(source_directory, {"config", "--get", "remote.origin.url"})) {
    properties["runyard.git.repository_uri"] = *uri;
  }
  if (auto branch = Git(source_directory, {"rev-parse", "--abbrev-ref", "HEAD"})) {
    properties["runyard.git.branch"] = *branch;
  }
  if (auto commit = Git(source_directory, {"rev-parse", "HEAD"}))
    properties["runyard.git.commit"] = *commit;
  if (auto status = Git(source_directory, {"status", "--porcelain", "--", "."})) {
    properties["runyard.git.dirty"] = status->empty() ? "false" : "true";
  }
  return properties;
}

}  // namespace runyard::cli
