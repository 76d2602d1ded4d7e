#pragma once

#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runyard/v1/run.pb.h"
#include "runyard/v1/services.pb.h"
#include "runyard/v1/snapshot.pb.h"
#include "runyard/v1/spec.pb.h"

namespace runyard::cli {

// Receives a run file's bytes in order: (bytes, size of the whole file when the read began).
using FileChunkSink = std::function<absl::Status(std::string_view bytes, int64_t file_size)>;

// What the CLI's commands need from "where runs live": the embedded store for local runs,
// a runyard-server for pools. Commands are written once against this.
class RunBackend {
 public:
  virtual ~RunBackend() = default;

  // ---- blobs (snapshots)
  virtual absl::StatusOr<std::vector<std::string>> FindMissingBlobs(const std::vector<std::string>& digests) = 0;
  // Small blobs, many at once: (digest, bytes).
  virtual absl::Status UploadBlobs(const std::vector<std::pair<std::string, std::string>>& blobs) = 0;
  // One large blob from a file, resuming a broken-off upload; `on_progress` gets bytes sent.
  virtual absl::Status UploadFileBlob(const std::string& digest, const std::filesystem::path& file,
                                      const std::function<void(int64_t)>& on_progress) = 0;
  virtual absl::Status ReadBlob(const std::string& digest, const std::function<void(std::string_view)>& sink) = 0;
  // The limits a snapshot must respect when the submitter sets none.
  virtual absl::StatusOr<runyard::v1::SnapshotLimits> DefaultSnapshotLimits() = 0;

  // ---- runs
  virtual absl::StatusOr<runyard::v1::Run> Submit(const runyard::v1::RunSpec& spec,
                                                  const runyard::v1::SnapshotLimits& limits) = 0;
  virtual absl::StatusOr<runyard::v1::Run> Get(const std::string& run_id) = 0;
  // Runs matching every filter the request sets (experiment, tags, properties, status,
  // parent, archived), newest first, at most request.limit.
  virtual absl::StatusOr<std::vector<runyard::v1::Run>> List(const runyard::v1::ListRunsRequest& request) = 0;
  virtual absl::StatusOr<runyard::v1::Run> Cancel(const std::string& run_id) = 0;
  virtual absl::StatusOr<std::vector<runyard::v1::FileInfo>> ListFiles(const std::string& run_id) = 0;
  // Bytes of a run file from `offset` on, handed to `sink` a chunk (about 1 MiB) at a time,
  // never the whole file at once. `sink` also gets the file's size when the read began
  // (it grows while the run runs) and is called at least once for a file that exists; an
  // error it returns stops the read and is returned.
  virtual absl::Status ReadFile(const std::string& run_id, const std::string& path, int64_t offset,
                                const FileChunkSink& sink) = 0;

  // ---- the in-run API's history: metrics, tags, experiments
  // Series summaries (the named one only when request.name is set) and, with
  // request.with_values, a page of that series' values from request.after_seq on.
  virtual absl::StatusOr<runyard::v1::GetMetricsResponse> GetMetrics(
      const runyard::v1::GetMetricsRequest& request) = 0;
  // Sets and removes tags; the run with its tags as they are now.
  virtual absl::StatusOr<runyard::v1::Run> SetTags(const runyard::v1::SetTagsRequest& request) = 0;
  virtual absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>> ListExperiments(bool include_archived) = 0;
  virtual absl::StatusOr<runyard::v1::ExperimentInfo> SetExperimentArchived(const std::string& name,
                                                                            bool archived) = 0;

  // Calls on_log with the bytes of `log_path` (a file under user_logs/; empty:
  // user_logs/std_log.txt) from `log_offset` on and on_run on each status change, until
  // the run has ended and that whole log was passed on. Returns the run.
  virtual absl::StatusOr<runyard::v1::Run> Watch(
      const std::string& run_id, const std::string& log_path, int64_t log_offset,
      const std::function<void(std::string_view)>& on_log,
      const std::function<void(const runyard::v1::Run&)>& on_run) = 0;
};

}  // namespace runyard::cli
