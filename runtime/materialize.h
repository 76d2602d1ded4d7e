#pragma once

#include <cstdint>
#include <filesystem>

#include "absl/status/statusor.h"
#include "common/cas_directory.h"
#include "runyard/v1/snapshot.pb.h"

namespace runyard::runtime {

struct MaterializeStats {
  int64_t files = 0;
  int64_t bytes = 0;
  int64_t reflinked = 0;  // files shared copy-on-write with the cache (btrfs, xfs)
  int64_t linked = 0;     // LinkTree: files hardlinked to the cache
};

// Writes the tree of a (checked) manifest into the existing, empty folder `dest`, each
// file a copy of its blob: a reflink where the file system can, else an in-kernel copy.
// Never a hardlink, so the run cannot change the cache. Files are created with
// O_EXCL|O_NOFOLLOW below `dest` only; a blob whose size differs from its entry fails the
// run (FailedPrecondition, naming the entry).
absl::StatusOr<MaterializeStats> Materialize(const runyard::v1::SnapshotManifest& manifest,
                                             const common::CasDirectory& blobs,
                                             const std::filesystem::path& dest);

// The tree of a manifest as read-only hardlinks into the cache (the lower layer of an
// overlay; never the run's own folder). A file whose mode differs from its blob's is
// copied instead. Same checks and errors as Materialize.
absl::StatusOr<MaterializeStats> LinkTree(const runyard::v1::SnapshotManifest& manifest,
                                          const common::CasDirectory& blobs,
                                          const std::filesystem::path& dest);

}  // namespace runyard::runtime
