#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "agent/control_plane_link.h"
#include "common/grpc_channel.h"
#include "runtime/observer.h"
#include "runtime/reporting_observer.h"
#include "runyard/v1/services.grpc.pb.h"

namespace runyard::agent {

// grpc::Status → absl::Status (same codes).
absl::Status FromGrpc(const grpc::Status& status);

// RunReporter over the Agents service. A run's writes carry that run's own token (from
// its assignment) when there is one, so they are allowed for that run alone; others go
// with the channel's token (the agent token: a run of an earlier agent process).
class GrpcRunReporter : public runtime::RunReporter {
 public:
  explicit GrpcRunReporter(std::shared_ptr<grpc::Channel> channel)
      : stub_(runyard::v1::Agents::NewStub(channel)) {}

  void SetRunToken(const std::string& run_id, const std::string& token);
  void ForgetRunToken(const std::string& run_id);

  absl::StatusOr<runyard::v1::UpdateStatusResponse> UpdateStatus(
      const runyard::v1::UpdateStatusRequest& request) override;
  absl::StatusOr<runyard::v1::AppendResponse> Append(
      const runyard::v1::AppendRequest& request) override;
  // One Report call; a server without it (UNIMPLEMENTED, an older version) gets a call
  // per record from then on.
  absl::StatusOr<runyard::v1::ReportResponse> Report(
      const runyard::v1::ReportRequest& request) override;

  // Bytes of run files the server took so far (for /metrics).
  int64_t appended_bytes() const { return appended_bytes_.load(); }

 private:
  // Puts the run's token on the call, when the run has one.
  void Authorize(grpc::ClientContext* context, const std::string& run_id);

  std::unique_ptr<runyard::v1::Agents::Stub> stub_;
  std::mutex tokens_mutex_;
  std::map<std::string, std::string> run_tokens_;  // run id -> token; guarded by tokens_mutex_
  std::atomic<int64_t> appended_bytes_{0};
  std::atomic<bool> server_lacks_report_{false};
};

// Blobs the node cache lacks, streamed from the server's blob store (many per call),
// each verified by its digest before it enters the cache.
class GrpcBlobSource : public runtime::BlobSource {
 public:
  explicit GrpcBlobSource(std::shared_ptr<grpc::Channel> channel)
      : stub_(runyard::v1::Cas::NewStub(channel)) {}
  absl::StatusOr<runtime::FetchStats> FetchMissing(const std::vector<std::string>& digests,
                                                   common::CasDirectory& cache) override;

 private:
  absl::Status FetchBatch(const std::vector<std::string>& digests, common::CasDirectory& cache,
                          runtime::FetchStats* stats);

  std::unique_ptr<runyard::v1::Cas::Stub> stub_;
  std::mutex mutex_;  // one fetch at a time keeps two slots from fetching the same blob
};

// The agent's link to the control plane over one gRPC channel (Agents and Cas services).
// `options`, when they name the address, are how the channel was made: a registration
// the server does not answer is then explained (TLS, CA, nothing listening).
class GrpcControlPlaneLink final : public ControlPlaneLink {
 public:
  explicit GrpcControlPlaneLink(std::shared_ptr<grpc::Channel> channel, common::ChannelOptions options = {});

  absl::StatusOr<runyard::v1::RegisterResponse> Register(
      const runyard::v1::RegisterRequest& request) override;
  std::unique_ptr<PendingPoll> StartPoll(const runyard::v1::PollRequest& request) override;
  runtime::RunReporter& reporter() override { return reporter_; }
  runtime::BlobSource& blobs() override { return blobs_; }
  int64_t uploaded_bytes() const override { return reporter_.appended_bytes(); }
  void RunEnded(const std::string& run_id) override { reporter_.ForgetRunToken(run_id); }

 private:
  const common::ChannelOptions options_;
  std::unique_ptr<runyard::v1::Agents::Stub> stub_;
  GrpcRunReporter reporter_;
  GrpcBlobSource blobs_;
};

}  // namespace runyard::agent
