#pragma once

#include <filesystem>
#include <memory>

#include "cli/backend.h"
#include "server/blob_store.h"
#include "server/control_plane.h"
#include "server/run_files.h"
#include "server/store.h"

namespace runyard::cli {

// Where local runs live: $RUNYARD_HOME (default ~/.local/share/runyard), holding the same
// store, blob store and run files runyard-server keeps, used in-process. Every call goes
// through the embedded ControlPlane, as a server's requests do.
//   runyard.db   blobs/   runs/<run_id>/<history path>   work/runs/<run_id>/wd ...
class LocalBackend : public RunBackend {
 public:
  static absl::StatusOr<std::unique_ptr<LocalBackend>> Open(const std::filesystem::path& home);
  // $RUNYARD_HOME, else $XDG_DATA_HOME/runyard, else ~/.local/share/runyard.
  static std::filesystem::path DefaultHome();

  absl::StatusOr<std::vector<std::string>> FindMissingBlobs(
      const std::vector<std::string>& digests) override;
  absl::Status UploadBlobs(const std::vector<std::pair<std::string, std::string>>& blobs) override;
  absl::Status UploadFileBlob(const std::string& digest, const std::filesystem::path& file,
                              const std::function<void(int64_t)>& on_progress) override;
  absl::Status ReadBlob(const std::string& digest,
                        const std::function<void(std::string_view)>& sink) override;
  absl::StatusOr<runyard::v1::SnapshotLimits> DefaultSnapshotLimits() override;
  absl::StatusOr<runyard::v1::Run> Submit(const runyard::v1::RunSpec& spec,
                                          const runyard::v1::SnapshotLimits& limits) override;
  absl::StatusOr<runyard::v1::Run> Get(const std::string& run_id) override;
  absl::StatusOr<std::vector<runyard::v1::Run>> List(
      const runyard::v1::ListRunsRequest& request) override;
  absl::StatusOr<runyard::v1::Run> Cancel(const std::string& run_id) override;
  absl::StatusOr<std::vector<runyard::v1::FileInfo>> ListFiles(const std::string& run_id) override;
  absl::Status ReadFile(const std::string& run_id, const std::string& path, int64_t offset,
                        const FileChunkSink& sink) override;
  absl::StatusOr<runyard::v1::GetMetricsResponse> GetMetrics(
      const runyard::v1::GetMetricsRequest& request) override;
  absl::StatusOr<runyard::v1::Run> SetTags(const runyard::v1::SetTagsRequest& request) override;
  absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>> ListExperiments(
      bool include_archived) override;
  absl::StatusOr<runyard::v1::ExperimentInfo> SetExperimentArchived(const std::string& name,
                                                                    bool archived) override;
  absl::StatusOr<runyard::v1::Run> Watch(
      const std::string& run_id, const std::string& log_path, int64_t log_offset,
      const std::function<void(std::string_view)>& on_log,
      const std::function<void(const runyard::v1::Run&)>& on_run) override;

  // Whether the local store holds the run; false (logged) when it cannot tell.
  bool HasRun(const std::string& run_id);
  server::ControlPlane* plane() { return plane_.get(); }
  // The runner's node cache in local mode is this blob store itself (cli/local_executor.cc).
  server::BlobStore* blobs() { return blobs_.get(); }
  const std::filesystem::path& home() const { return home_; }
  std::filesystem::path work_dir() const { return home_ / "work"; }
  std::filesystem::path history_dir(const std::string& run_id) const {
    return home_ / "runs" / run_id;
  }

 private:
  explicit LocalBackend(std::filesystem::path home) : home_(std::move(home)) {}

  std::filesystem::path home_;
  std::unique_ptr<server::Store> store_;
  std::unique_ptr<server::BlobStore> blobs_;
  std::unique_ptr<server::RunFiles> files_;
  std::unique_ptr<server::ControlPlane> plane_;
};

}  // namespace runyard::cli
