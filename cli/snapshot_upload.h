#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "cli/backend.h"
#include "cli/snapshot_builder.h"

namespace runyard::cli {

// What a submit moved, for `submit` output (text and --json).
struct UploadReport {
  std::string snapshot_id;
  int64_t files = 0;            // files in the snapshot
  int64_t bytes = 0;
  int64_t uploaded_blobs = 0;   // contents the store lacked, the manifest included
  int64_t uploaded_bytes = 0;
  int64_t skipped_files = 0;    // files whose content the store already had
  int64_t skipped_bytes = 0;
  int64_t manifest_bytes = 0;
  int64_t ignored = 0;
};

// Asks the store which blobs it lacks and sends only those: small files batched, large
// files streamed (resumably), the manifest last, so a stored manifest always means a
// complete snapshot. With `progress` (a terminal), a progress bar for uploads over 4 MB.
absl::StatusOr<UploadReport> UploadSnapshot(const BuiltSnapshot& snapshot, RunBackend& backend, bool progress);

}  // namespace runyard::cli
