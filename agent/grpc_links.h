#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/grpcpp.h>

#include "runtime/observer.h"
#include "runtime/reporting_observer.h"
#include "runyard/v1/services.grpc.pb.h"

namespace runyard::agent {

// grpc::Status → absl::Status (same codes).
absl::Status FromGrpc(const grpc::Status& status);

// RunReporter over the Agents service.
class GrpcRunReporter : public runtime::RunReporter {
 public:
  explicit GrpcRunReporter(std::shared_ptr<grpc::Channel> channel)
      : stub_(runyard::v1::Agents::NewStub(channel)) {}
  absl::StatusOr<runyard::v1::UpdateStatusResponse> UpdateStatus(
      const runyard::v1::UpdateStatusRequest& request) override;
  absl::StatusOr<runyard::v1::AppendResponse> Append(const runyard::v1::AppendRequest& request) override;

 private:
  std::unique_ptr<runyard::v1::Agents::Stub> stub_;
};

// Snapshots fetched from the server's blob store into <cache_dir>/<digest>, verified,
// kept for the next run that needs the same snapshot.
class GrpcSnapshotCache : public runtime::SnapshotSource {
 public:
  GrpcSnapshotCache(std::shared_ptr<grpc::Channel> channel, std::filesystem::path cache_dir)
      : stub_(runyard::v1::Cas::NewStub(channel)), cache_dir_(std::move(cache_dir)) {}
  absl::StatusOr<std::filesystem::path> FetchSnapshot(const std::string& digest) override;

 private:
  std::unique_ptr<runyard::v1::Cas::Stub> stub_;
  std::filesystem::path cache_dir_;
  std::mutex mutex_;  // one fetch at a time keeps two slots from fetching the same blob
};

}  // namespace runyard::agent
