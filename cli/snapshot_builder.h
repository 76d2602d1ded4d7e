#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runyard/v1/snapshot.pb.h"

namespace runyard::cli {

// A source folder turned into a manifest, plus where each blob's bytes are on disk.
struct BuiltSnapshot {
  runyard::v1::SnapshotManifest manifest;
  std::string manifest_bytes;
  std::string id;  // SHA-256 of manifest_bytes
  std::map<std::string, std::filesystem::path> file_of_digest;
  int64_t files = 0;
  int64_t bytes = 0;
  int64_t ignored = 0;           // files and folders left out by ignore rules (and .git/)
  int64_t skipped_special = 0;   // symlinks, sockets, devices: never part of a snapshot
  int64_t hashed_bytes = 0;      // bytes read to hash (the rest came from the digest cache)
};

// Walks `root`, honouring in each folder its .amlignore, else its .gitignore (rules of
// parent folders apply below them), always leaving out .git/, and names every file by
// SHA-256. `digest_cache_file` (may be empty) remembers digests by path, size, mtime,
// ctime and inode, so an unchanged file is not read again.
// Folders in `exclude` (e.g. $RUNYARD_HOME when it lies inside the source) are left out.
absl::StatusOr<BuiltSnapshot> BuildSnapshot(const std::filesystem::path& root,
                                            const std::filesystem::path& digest_cache_file,
                                            const std::vector<std::filesystem::path>& exclude = {});

}  // namespace runyard::cli
