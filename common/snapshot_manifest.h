#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "runyard/v1/snapshot.pb.h"

namespace runyard::common {

// Bounds a manifest from the wire must respect, whatever limits a user chose.
struct ManifestBounds {
  int64_t max_manifest_bytes = 64LL << 20;
  int64_t max_entries = 1'000'000;
  int64_t max_entry_bytes = 64LL << 30;
  int64_t max_total_bytes = 256LL << 30;
};

// Parses a manifest that came from outside and checks every entry as hostile input:
// relative path without '.', '..', empty components or NUL, bounded length; sorted
// strictly by path (so no duplicates); no file that is also a folder of another entry;
// mode 0644/0755 only (no setuid/setgid/sticky); valid SHA-256 digests; sane sizes.
// Errors are FailedPrecondition naming the entry.
absl::StatusOr<runyard::v1::SnapshotManifest> ParseManifest(std::string_view bytes,
                                                            const ManifestBounds& bounds = {});
absl::Status CheckManifest(const runyard::v1::SnapshotManifest& manifest, const ManifestBounds& bounds = {});

// The bytes that name a manifest, and their SHA-256: the snapshot id.
std::string SerializeManifest(const runyard::v1::SnapshotManifest& manifest);
std::string ManifestId(const runyard::v1::SnapshotManifest& manifest);

struct ManifestTotals {
  int64_t files = 0;
  int64_t bytes = 0;
};
ManifestTotals Totals(const runyard::v1::SnapshotManifest& manifest);

// Azure ML's defaults: 300 MB and 2,000 files.
inline constexpr int64_t kDefaultMaxSnapshotBytes = 300LL * 1000 * 1000;
inline constexpr int64_t kDefaultMaxSnapshotFiles = 2000;

// `limits` with unset (0) fields filled from `defaults`.
runyard::v1::SnapshotLimits EffectiveLimits(const runyard::v1::SnapshotLimits& limits,
                                            const runyard::v1::SnapshotLimits& defaults);

// InvalidArgument when the snapshot is over a limit, naming the limit, how to override
// it, and the largest files and folders (what to put in .amlignore).
absl::Status CheckSnapshotLimits(const runyard::v1::SnapshotManifest& manifest,
                                 const runyard::v1::SnapshotLimits& limits);

// "1.5 MB", "300.0 MB" (powers of 1000, as Azure states its limit).
std::string HumanBytes(int64_t bytes);

}  // namespace runyard::common
