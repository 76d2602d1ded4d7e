#include "sandbox/bubblewrap.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/helper_command.h"

namespace runyard::sandbox {
namespace fs = std::filesystem;

namespace {

bool IsBelow(const fs::path& root, const fs::path& path) {
  const fs::path relative = path.lexically_relative(root);
  return !relative.empty() && relative != "." && *relative.begin() != "..";
}

// The folders strictly between `root` and `path` (nothing when `path` is not below `root`),
// parents first.
std::vector<fs::path> FoldersBetween(const fs::path& root, const fs::path& path) {
  std::vector<fs::path> folders;
  if (!IsBelow(root, path)) return folders;
  const fs::path relative = path.lexically_relative(root);
  fs::path folder = root;
  for (auto part = relative.begin(); std::next(part) != relative.end(); ++part) {
    folder /= *part;
    folders.push_back(folder);
  }
  return folders;
}

// Inside a fresh tmpfs (the sandbox's /tmp, a hidden path), bwrap makes the folders leading
// to a mount point 0700 and root's; the run's user must be able to pass through them.
void MakeWayTo(const fs::path& path, const std::vector<fs::path>& tmpfs_roots,
               std::vector<fs::path>* made, std::vector<std::string>* args) {
  const fs::path* deepest = nullptr;
  for (const fs::path& root : tmpfs_roots) {
    if (IsBelow(root, path) &&
        (deepest == nullptr || root.string().size() > deepest->string().size())) {
      deepest = &root;
    }
  }
  if (deepest == nullptr) return;
  for (const fs::path& folder : FoldersBetween(*deepest, path)) {
    if (std::find(made->begin(), made->end(), folder) != made->end()) continue;
    made->push_back(folder);
    args->insert(args->end(), {"--perms", "0555", "--dir", folder.string()});
  }
}

}  // namespace

std::vector<std::string> BubblewrapArguments(const BubblewrapPolicy& policy,
                                             const fs::path& working_dir, int status_fd,
                                             const fs::path& executable,
                                             const std::vector<std::string>& arguments) {
  std::vector<std::string> args = {
      // The system as it is, but nothing in it can be changed.
      "--ro-bind",
      "/",
      "/",
      "--dev",
      "/dev",
      "--proc",
      "/proc",
      "--tmpfs",
      "/tmp",
      // pid, ipc, uts, cgroup (and user where it helps) namespaces of its own; network too
      // unless the run may use the node's.
      "--unshare-all",
  };
  if (policy.network) args.push_back("--share-net");
  // Mounts apply in order: hidden paths become empty folders, then the run's own folders
  // are shown again below them.
  std::vector<fs::path> tmpfs_roots = {"/tmp"};
  std::vector<fs::path> made;
  // Outer paths first: a hidden path inside another must be mounted after it, or be buried.
  std::vector<fs::path> hidden = policy.hidden;
  std::stable_sort(hidden.begin(), hidden.end(), [](const fs::path& a, const fs::path& b) {
    return std::distance(a.begin(), a.end()) < std::distance(b.begin(), b.end());
  });
  for (const fs::path& path : hidden) {
    MakeWayTo(path, tmpfs_roots, &made, &args);
    args.insert(args.end(), {"--perms", "0555", "--tmpfs", path.string()});
    tmpfs_roots.push_back(path);
  }
  for (const fs::path& path : policy.readable) {
    MakeWayTo(path, tmpfs_roots, &made, &args);
    args.insert(args.end(), {"--ro-bind", path.string(), path.string()});
  }
  for (const fs::path& path : policy.writable) {
    MakeWayTo(path, tmpfs_roots, &made, &args);
    args.insert(args.end(), {"--bind", path.string(), path.string()});
  }
  // Then read-only, so nothing can be written beside the run's folders (the folders bound
  // below stay writable: a remount does not reach the mounts under it).
  for (const fs::path& path : policy.hidden) {
    args.insert(args.end(), {"--remount-ro", path.string()});
  }
  args.insert(args.end(),
              {
                  // The sandbox dies with bwrap, and bwrap with the agent: nothing outlives either.
                  "--die-with-parent",
                  // No TIOCSTI into a terminal the run does not own.
                  "--new-session",
                  "--json-status-fd",
                  std::to_string(status_fd),
                  "--chdir",
                  working_dir.string(),
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
  // Both helpers answer at once; a hung one must not keep the agent from starting.
  constexpr std::chrono::seconds kHelperTimeout{10};
  fs::path bwrap = configured;
  if (bwrap.empty()) bwrap = "bwrap";
  if (!bwrap.has_parent_path()) {
    common::HelperCommand find;
    find.argv = {"sh", "-c", "command -v \"$0\"", bwrap.string()};
    find.timeout = kHelperTimeout;
    absl::StatusOr<common::HelperCommandResult> found = common::RunHelperCommand(find);
    if (!found.ok() || !found->ok() || found->output.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("sandbox: bubblewrap asked for, but `", bwrap.string(),
                       "` is not on PATH (install the bubblewrap package)"));
    }
    bwrap = found->output.substr(0, found->output.find('\n'));
  }
  if (::access(bwrap.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sandbox: bubblewrap asked for, but ", bwrap.string(), " is not an executable file"));
  }
  common::HelperCommand probe;
  probe.argv = {
      bwrap.string(),  "--ro-bind",         "/",  "/",        "--dev", "/dev", "--proc", "/proc",
      "--unshare-all", "--die-with-parent", "--", "/bin/true"};
  probe.timeout = kHelperTimeout;
  probe.merge_stderr = true;
  absl::StatusOr<common::HelperCommandResult> probed = common::RunHelperCommand(probe);
  if (!probed.ok() || !probed->ok()) {
    const std::string said = !probed.ok() ? std::string(probed.status().message())
                             : probed->timed_out
                                 ? absl::StrCat("no answer in ", kHelperTimeout.count(), " s")
                                 : probed->output;
    return absl::FailedPreconditionError(absl::StrCat(
        "sandbox: ", bwrap.string(), " cannot build a sandbox on this node (", said,
        "); user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone)"));
  }
  return bwrap;
}

}  // namespace runyard::sandbox
