#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/blob_cache.h"
#include "runtime/observer.h"
#include "runtime/overlay.h"
#include "runtime/workspace.h"

namespace runyard::runtime {

// How a snapshot becomes the run's working directory: copies of the cached blobs, or an
// overlay whose lower layer is a tree of hardlinks into the cache (zero copy; needs root).
enum class Materialization { kAuto, kCopy, kOverlay };

// What bringing a snapshot into a working directory did, for the run's system log.
struct SnapshotReport {
  int64_t files = 0;
  int64_t bytes = 0;
  int64_t blobs = 0;          // distinct contents
  FetchStats fetched;         // what the cache lacked
  std::chrono::milliseconds fetch_time{0};
  std::chrono::milliseconds materialize_time{0};
  bool overlay = false;
  std::string overlay_failure;  // why auto mode fell back to copies, when it did
  // The run's blobs stay pinned in the cache, and its overlay mounted, while these live.
  std::unique_ptr<BlobCache::Pins> pins;
  std::unique_ptr<OverlayMount> mount;
};

// In kAuto an overlay that fails to mount or link falls back to copies; after a failed
// mount, later calls in this process copy straight away. This forgets that (tests).
void ForgetOverlayFailure();

// Manifest by id, then the blobs the cache lacks, then the tree into `dest`. A manifest
// or tree refused as hostile is FailedPrecondition (the run's SnapshotRejected); a blob
// that cannot be had is Unavailable/NotFound (SnapshotUnavailable).
absl::StatusOr<SnapshotReport> PrepareSnapshot(const std::string& snapshot_id, BlobCache& cache,
                                               BlobSource& source, const Workspace& workspace,
                                               Materialization materialization);

}  // namespace runyard::runtime
