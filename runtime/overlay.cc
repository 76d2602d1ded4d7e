#include "runtime/overlay.h"

#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>
#include <algorithm>

#include "absl/strings/str_cat.h"

namespace runyard::runtime {
namespace fs = std::filesystem;

absl::StatusOr<std::unique_ptr<OverlayMount>> OverlayMount::Mount(const fs::path& lower, const fs::path& upper,
                                                                  const fs::path& work, const fs::path& target) {
  // The lower tree shares its files with the cache: bind it read-only onto itself first,
  // so even a run that finds it (../snapshot) cannot write through to a cache blob.
  if (::mount(lower.c_str(), lower.c_str(), nullptr, MS_BIND, nullptr) != 0 ||
      ::mount(nullptr, lower.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0) {
    const int error = errno;
    ::umount2(lower.c_str(), MNT_DETACH);
    return absl::UnavailableError(absl::StrCat("read-only bind of ", lower.string(), " failed: ", strerror(error)));
  }
  const std::string options =
      absl::StrCat("lowerdir=", lower.string(), ",upperdir=", upper.string(), ",workdir=", work.string());
  if (::mount("overlay", target.c_str(), "overlay", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
    const int error = errno;
    ::umount2(lower.c_str(), MNT_DETACH);
    return absl::UnavailableError(absl::StrCat("overlay mount on ", target.string(), " failed: ", strerror(error)));
  }
  return std::unique_ptr<OverlayMount>(new OverlayMount(lower, upper, target));
}

OverlayMount::~OverlayMount() {
  if (::umount2(target_.c_str(), MNT_DETACH) != 0) return;  // still mounted: touch nothing
  if (::umount2(lower_.c_str(), MNT_DETACH) != 0) return;
  std::error_code ec;
  fs::remove_all(lower_, ec);
  if (fs::remove(target_, ec)) fs::rename(upper_, target_, ec);
}

void UnmountStale(const fs::path& target) {
  while (::umount2(target.c_str(), MNT_DETACH) == 0) {
  }
  const fs::path lower = target.parent_path() / "snapshot";
  while (::umount2(lower.c_str(), MNT_DETACH) == 0) {
  }
}

int UnmountAllBelow(const fs::path& folder) {
  // /proc/self/mountinfo field 5 is the mount point (spaces escaped as \040).
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::vector<std::string> points;
  const std::string prefix = folder.lexically_normal().string() + "/";
  for (std::string line; std::getline(mountinfo, line);) {
    std::istringstream fields(line);
    std::string id, parent, device, root, point;
    fields >> id >> parent >> device >> root >> point;
    if (point.rfind(prefix, 0) == 0) points.push_back(point);
  }
  // Deepest first, so an overlay goes before anything it sits on.
  std::sort(points.begin(), points.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  int unmounted = 0;
  for (const auto& point : points) {
    if (::umount2(point.c_str(), MNT_DETACH) == 0) ++unmounted;
  }
  return unmounted;
}

}  // namespace runyard::runtime
