#pragma once

#include <memory>

#include <grpcpp/grpcpp.h>

#include "cli/backend.h"
#include "cli/server_connection.h"
#include "runyard/v1/services.grpc.pb.h"

namespace runyard::cli {

// Runs on a pool, through runyard-server's gRPC services.
class RemoteBackend : public RunBackend {
 public:
  explicit RemoteBackend(const ServerConnection& connection);

  absl::StatusOr<std::vector<std::string>> FindMissingBlobs(const std::vector<std::string>& digests) override;
  absl::Status UploadBlobs(const std::vector<std::pair<std::string, std::string>>& blobs) override;
  absl::Status UploadFileBlob(const std::string& digest, const std::filesystem::path& file,
                              const std::function<void(int64_t)>& on_progress) override;
  absl::Status ReadBlob(const std::string& digest, const std::function<void(std::string_view)>& sink) override;
  absl::StatusOr<runyard::v1::SnapshotLimits> DefaultSnapshotLimits() override;
  absl::StatusOr<runyard::v1::Run> Submit(const runyard::v1::RunSpec& spec,
                                          const runyard::v1::SnapshotLimits& limits) override;
  absl::StatusOr<runyard::v1::Run> Get(const std::string& run_id) override;
  absl::StatusOr<std::vector<runyard::v1::Run>> List(const runyard::v1::ListRunsRequest& request) override;
  absl::StatusOr<runyard::v1::Run> Cancel(const std::string& run_id) override;
  absl::StatusOr<std::vector<runyard::v1::FileInfo>> ListFiles(const std::string& run_id) override;
  absl::Status ReadFile(const std::string& run_id, const std::string& path, int64_t offset,
                        const FileChunkSink& sink) override;
  absl::StatusOr<runyard::v1::GetMetricsResponse> GetMetrics(
      const runyard::v1::GetMetricsRequest& request) override;
  absl::StatusOr<runyard::v1::Run> SetTags(const runyard::v1::SetTagsRequest& request) override;
  absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>> ListExperiments(bool include_archived) override;
  absl::StatusOr<runyard::v1::ExperimentInfo> SetExperimentArchived(const std::string& name,
                                                                    bool archived) override;
  absl::StatusOr<runyard::v1::Run> Watch(const std::string& run_id, const std::string& log_path,
                                         int64_t log_offset,
                                         const std::function<void(std::string_view)>& on_log,
                                         const std::function<void(const runyard::v1::Run&)>& on_run) override;

  // Not part of RunBackend: only a server has agents. `pool` empty: every pool.
  absl::StatusOr<std::vector<runyard::v1::AgentInfo>> ListAgents(const std::string& pool, bool include_offline);

 private:
  const ServerConnection connection_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<runyard::v1::Runs::Stub> runs_;
  std::unique_ptr<runyard::v1::Cas::Stub> cas_;
};

}  // namespace runyard::cli
