#pragma once

#include <cstdint>
#include <filesystem>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace runyard::runtime {

struct PackStats {
  int64_t files = 0;
  int64_t bytes = 0;
};

// Packs the regular files and folders under `source` into a gzip'd tar at `archive`.
// Deterministic (sorted, zeroed times and owners) so an unchanged tree gives the same
// digest. `.git/` is left out; symlinks are left out (counted in the log by the caller).
absl::StatusOr<PackStats> PackDirectory(const std::filesystem::path& source,
                                        const std::filesystem::path& archive);

// Bounds on what one snapshot may unpack to (archive bombs).
struct ExtractLimits {
  int64_t max_entries = 100000;
  int64_t max_entry_bytes = 4LL << 30;
  int64_t max_total_bytes = 8LL << 30;
};

// Unpacks `archive` into the existing, empty folder `dest`, treating the archive as
// hostile: only folders and regular files, relative paths without '..', no setuid/setgid,
// no duplicates, bounded sizes. A refused archive gives FailedPrecondition naming the
// entry; nothing is ever written outside `dest`.
absl::Status ExtractArchive(const std::filesystem::path& archive,
                            const std::filesystem::path& dest,
                            const ExtractLimits& limits = {});

}  // namespace runyard::runtime
