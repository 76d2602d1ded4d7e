#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/blob_cache.h"
#include "runtime/observer.h"

namespace runyard::runtime {

// What bringing a snapshot into a working directory did, for the run's system log.
struct SnapshotReport {
  int64_t files = 0;
  int64_t bytes = 0;
  int64_t blobs = 0;          // distinct contents
  FetchStats fetched;         // what the cache lacked
  std::chrono::milliseconds fetch_time{0};
  std::chrono::milliseconds materialize_time{0};
  // The run's blobs stay pinned in the cache while this lives.
  std::unique_ptr<BlobCache::Pins> pins;
};

// Manifest by id, then the blobs the cache lacks, then the tree into `dest`. A manifest
// or tree refused as hostile is FailedPrecondition (the run's SnapshotRejected); a blob
// that cannot be had is Unavailable/NotFound (SnapshotUnavailable).
absl::StatusOr<SnapshotReport> PrepareSnapshot(const std::string& snapshot_id, BlobCache& cache,
                                               BlobSource& source, const std::filesystem::path& dest);

}  // namespace runyard::runtime
