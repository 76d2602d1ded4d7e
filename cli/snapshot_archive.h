#pragma once

#include <filesystem>

#include "absl/status/status.h"
#include "cli/backend.h"

namespace runyard::cli {

// Writes the snapshot `snapshot_id` as a tar.gz at `out` (what `runyard snapshot
// download` returns): the manifest is read and checked like any manifest from the wire,
// then each file's blob is streamed into the archive.
absl::Status WriteSnapshotArchive(RunBackend& backend, const std::string& snapshot_id,
                                  const std::filesystem::path& out);

}  // namespace runyard::cli
