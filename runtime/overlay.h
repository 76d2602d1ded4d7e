#pragma once

#include <filesystem>
#include <memory>

#include "absl/status/statusor.h"

namespace runyard::runtime {

// Zero-copy materialization: the snapshot's tree of read-only hardlinks into the node
// cache is the lower layer of an overlay mount on the run's working directory, and
// whatever the run writes or changes lands in a private upper layer (copy-up), so the
// cache is never touched. Needs root (CAP_SYS_ADMIN) and overlayfs; otherwise runs copy.
class OverlayMount {
 public:
  // Binds `lower` read-only onto itself, then mounts lower + upper (+ work) on `target`;
  // all folders must exist. UnmountStale expects `lower` to be <target>/../snapshot.
  static absl::StatusOr<std::unique_ptr<OverlayMount>> Mount(const std::filesystem::path& lower,
                                                             const std::filesystem::path& upper,
                                                             const std::filesystem::path& work,
                                                             const std::filesystem::path& target);
  // Unmounts (lazily, so a process still inside cannot block it), removes the lower tree
  // of hardlinks (it would keep evicted cache blobs on disk), and puts the upper layer —
  // everything the run wrote — where the working directory was, for whoever looks later.
  ~OverlayMount();

 private:
  OverlayMount(std::filesystem::path lower, std::filesystem::path upper, std::filesystem::path target)
      : lower_(std::move(lower)), upper_(std::move(upper)), target_(std::move(target)) {}
  std::filesystem::path lower_;
  std::filesystem::path upper_;
  std::filesystem::path target_;
};

// Unmounts whatever a crashed earlier process left mounted on `target` (no error if none).
void UnmountStale(const std::filesystem::path& target);

// Unmounts every mount point below `folder` (an agent's runs/ at start: a killed agent
// leaves its runs' overlays and read-only binds behind). Returns how many.
int UnmountAllBelow(const std::filesystem::path& folder);

}  // namespace runyard::runtime
