#include "common/relative_path.h"

#include <array>

namespace runyard::common {
namespace {
constexpr size_t kMaxPathBytes = 4096;
constexpr size_t kMaxComponentBytes = 255;

absl::Status Bad(std::string_view path, const char* why) {
  return absl::InvalidArgumentError("path '" + std::string(path) + "' " + why);
}
}  // namespace

absl::Status CheckRelativePath(std::string_view path) {
  if (path.empty()) return Bad(path, "is empty");
  if (path.size() > kMaxPathBytes) return Bad(path.substr(0, 64), "is too long");
  if (path.find('\0') != std::string_view::npos) return Bad("<with NUL>", "contains a NUL byte");
  if (path.front() == '/') return Bad(path, "is absolute");
  std::string_view rest = path;
  if (rest.back() == '/') rest.remove_suffix(1);  // a folder may be written "a/b/"
  while (true) {
    const size_t slash = rest.find('/');
    const std::string_view part = rest.substr(0, slash);
    if (part.empty()) return Bad(path, "has an empty component");
    if (part == "." || part == "..") return Bad(path, "has a '.' or '..' component");
    if (part.size() > kMaxComponentBytes) return Bad(path, "has a component over 255 bytes");
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return absl::OkStatus();
}

absl::Status CheckRunFilePath(std::string_view path) {
  if (absl::Status status = CheckRelativePath(path); !status.ok()) return status;
  constexpr std::array<std::string_view, 4> kRoots = {"outputs/", "logs/", "user_logs/", "system_logs/"};
  for (std::string_view root : kRoots) {
    if (path.substr(0, root.size()) == root && path.size() > root.size()) return absl::OkStatus();
  }
  return Bad(path, "is not under outputs/, logs/, user_logs/ or system_logs/");
}

}  // namespace runyard::common
