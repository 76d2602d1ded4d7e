#include "cli/git_info.h"

#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <array>
#include <optional>
#include <cstdio>
#include <vector>

namespace runyard::cli {
namespace {

// Runs git with `args` in `dir`; its stdout without the trailing newline, or nothing on failure.
std::optional<std::string> Git(const std::filesystem::path& dir, std::vector<std::string> args) {
  int out[2];
  if (::pipe(out) != 0) return std::nullopt;
  const pid_t pid = ::fork();
  if (pid < 0) return std::nullopt;
  if (pid == 0) {
    ::dup2(out[1], 1);
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 2);
    ::close(out[0]);
    std::vector<const char*> argv = {"git", "-C", dir.c_str()};
    for (const auto& arg : args) argv.push_back(arg.c_str());
    argv.push_back(nullptr);
    ::execvp("git", const_cast<char* const*>(argv.data()));
    ::_exit(127);
  }
  ::close(out[1]);
  std::string text;
  std::array<char, 4096> buffer{};
  ssize_t n;
  while ((n = ::read(out[0], buffer.data(), buffer.size())) > 0) text.append(buffer.data(), static_cast<size_t>(n));
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

}  // namespace

std::map<std::string, std::string> GitProperties(const std::filesystem::path& source_directory) {
  std::map<std::string, std::string> properties;
  auto inside = Git(source_directory, {"rev-parse", "--is-inside-work-tree"});
  if (!inside || *inside != "true") return properties;
  if (auto uri = Git(source_directory, {"config", "--get", "remote.origin.url"})) {
    properties["runyard.git.repository_uri"] = *uri;
  }
  if (auto branch = Git(source_directory, {"rev-parse", "--abbrev-ref", "HEAD"})) {
    properties["runyard.git.branch"] = *branch;
  }
  if (auto commit = Git(source_directory, {"rev-parse", "HEAD"})) properties["runyard.git.commit"] = *commit;
  if (auto status = Git(source_directory, {"status", "--porcelain", "--", "."})) {
    properties["runyard.git.dirty"] = status->empty() ? "false" : "true";
  }
  return properties;
}

}  // namespace runyard::cli
