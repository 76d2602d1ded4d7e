#include "sandbox/bubblewrap.h"

#include <unistd.h>

#include <algorithm>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/run_command.h"

namespace runyard::sandbox {
namespace fs = std::filesystem;

namespace {

// The folders strictly between `hidden` and each shown path below it, parents first.
std::vector<fs::path> FoldersLeadingTo(const fs::path& hidden, const BubblewrapPolicy& policy) {
  std::vector<fs::path> folders;
  auto add_for = [&](const fs::path& shown) {
    const fs::path relative = shown.lexically_relative(hidden);
    if (relative.empty() || *relative.begin() == "..") return;
    fs::path folder = hidden;
    for (auto part = relative.begin(); std::next(part) != relative.end(); ++part) {
      folder /= *part;
      if (std::find(folders.begin(), folders.end(), folder) == folders.end()) folders.push_back(folder);
    }
  };
  for (const fs::path& path : policy.readable) add_for(path);
  for (const fs::path& path : policy.writable) add_for(path);
  return folders;
}

}  // namespace

std::vector<std::string> BubblewrapArguments(const BubblewrapPolicy& policy, const fs::path& working_dir,
                                             int status_fd, const fs::path& executable,
                                             const std::vector<std::string>& arguments) {
  std::vector<std::string> args = {
      // The system as it is, but nothing in it can be changed.
      "--ro-bind", "/", "/",
      "--dev", "/dev",
      "--proc", "/proc",
      "--tmpfs", "/tmp",
      // pid, ipc, uts, cgroup (and user where it helps) namespaces of its own; network too
      // unless the run may use the node's.
      "--unshare-all",
  };
  if (policy.network) args.push_back("--share-net");
  // Mounts apply in order: hide first, then show the run's own folders again.
  // Hidden paths become empty folders; the folders leading to what is shown again below
  // them are made traversable for the run's user (bwrap would make them 0700, root's).
  for (const fs::path& path : policy.hidden) {
    args.insert(args.end(), {"--perms", "0555", "--tmpfs", path.string()});
    for (const fs::path& shown : FoldersLeadingTo(path, policy)) {
      args.insert(args.end(), {"--perms", "0555", "--dir", shown.string()});
    }
  }
  for (const fs::path& path : policy.readable) {
    args.insert(args.end(), {"--ro-bind", path.string(), path.string()});
  }
  for (const fs::path& path : policy.writable) {
    args.insert(args.end(), {"--bind", path.string(), path.string()});
  }
  // Then read-only, so nothing can be written beside the run's folders (the folders bound
  // below stay writable: a remount does not reach the mounts under it).
  for (const fs::path& path : policy.hidden) {
    args.insert(args.end(), {"--remount-ro", path.string()});
  }
  args.insert(args.end(), {
      // The sandbox dies with bwrap, and bwrap with the agent: nothing outlives either.
      "--die-with-parent",
      // No TIOCSTI into a terminal the run does not own.
      "--new-session",
      "--json-status-fd", std::to_string(status_fd),
      "--chdir", working_dir.string(),
      "--",
      executable.string(),
  });
  args.insert(args.end(), arguments.begin(), arguments.end());
  return args;
}

BubblewrapStatus ParseBubblewrapStatus(std::string_view json_lines) {
  BubblewrapStatus status;
  std::istringstream lines{std::string(json_lines)};
  for (std::string line; std::getline(lines, line);) {
    const nlohmann::json object = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!object.is_object()) continue;
    if (auto pid = object.find("child-pid"); pid != object.end() && pid->is_number_integer()) {
      status.child_pid = pid->get<long>();
    }
    if (auto code = object.find("exit-code"); code != object.end() && code->is_number_integer()) {
      status.exit_code = code->get<int>();
    }
  }
  return status;
}

absl::StatusOr<fs::path> CheckBubblewrap(const std::string& configured) {
  fs::path bwrap = configured;
  if (bwrap.empty()) bwrap = "bwrap";
  if (!bwrap.has_parent_path()) {
    absl::StatusOr<common::CommandResult> found = common::RunCommand({"sh", "-c", "command -v \"$0\"", bwrap.string()});
    if (!found.ok() || found->exit_code != 0 || found->output.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("sandbox: bubblewrap asked for, but `", bwrap.string(),
                       "` is not on PATH (install the bubblewrap package)"));
    }
    bwrap = found->output.substr(0, found->output.find('\n'));
  }
  if (::access(bwrap.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("sandbox: bubblewrap asked for, but ", bwrap.string(),
                                                      " is not an executable file"));
  }
  absl::StatusOr<common::CommandResult> probe = common::RunCommand(
      {bwrap.string(), "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all",
       "--die-with-parent", "--", "/bin/true"},
      /*merge_stderr=*/true);
  if (!probe.ok() || probe->exit_code != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sandbox: ", bwrap.string(), " cannot build a sandbox on this node (",
        probe.ok() ? probe->output : std::string(probe.status().message()),
        "); user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone)"));
  }
  return bwrap;
}

}  // namespace runyard::sandbox
