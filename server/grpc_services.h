#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>

#include "runyard/v1/services.grpc.pb.h"
#include "server/control_plane.h"
#include "server/request_gate.h"

namespace runyard::server {

// The gRPC face of the control plane: thin adapters that translate messages and stream,
// each request one ControlPlane call, no logic of their own. Every handler first asks the
// gate (server/request_gate.h) whether the call may go on, and passes the caller's
// Identity where the plane takes one.

class CasService final : public runyard::v1::Cas::Service {
 public:
  CasService(ControlPlane* plane, RequestGate* gate) : plane_(plane), gate_(gate) {}
  grpc::Status FindMissingBlobs(grpc::ServerContext*, const runyard::v1::FindMissingBlobsRequest*,
                                runyard::v1::FindMissingBlobsResponse*) override;
  grpc::Status BatchUploadBlobs(grpc::ServerContext*, const runyard::v1::BatchUploadBlobsRequest*,
                                runyard::v1::BatchUploadBlobsResponse*) override;
  grpc::Status UploadBlob(grpc::ServerContext*, grpc::ServerReader<runyard::v1::BlobChunk>*,
                          runyard::v1::UploadBlobResponse*) override;
  grpc::Status GetUploadOffset(grpc::ServerContext*, const runyard::v1::GetUploadOffsetRequest*,
                               runyard::v1::GetUploadOffsetResponse*) override;
  grpc::Status FetchBlob(grpc::ServerContext*, const runyard::v1::FetchBlobRequest*,
                         grpc::ServerWriter<runyard::v1::BlobChunk>*) override;
  grpc::Status FetchBlobs(grpc::ServerContext*, const runyard::v1::FetchBlobsRequest*,
                          grpc::ServerWriter<runyard::v1::BlobChunk>*) override;
  grpc::Status GetSnapshotLimits(grpc::ServerContext*, const runyard::v1::GetSnapshotLimitsRequest*,
                                 runyard::v1::SnapshotLimits*) override;

 private:
  ControlPlane* plane_;
  RequestGate* gate_;
};

class RunsService final : public runyard::v1::Runs::Service {
 public:
  RunsService(ControlPlane* plane, RequestGate* gate) : plane_(plane), gate_(gate) {}
  grpc::Status Submit(grpc::ServerContext*, const runyard::v1::SubmitRequest*,
                      runyard::v1::Run*) override;
  grpc::Status Get(grpc::ServerContext*, const runyard::v1::GetRunRequest*,
                   runyard::v1::Run*) override;
  grpc::Status List(grpc::ServerContext*, const runyard::v1::ListRunsRequest*,
                    runyard::v1::ListRunsResponse*) override;
  grpc::Status Cancel(grpc::ServerContext*, const runyard::v1::CancelRunRequest*,
                      runyard::v1::Run*) override;
  grpc::Status Watch(grpc::ServerContext*, const runyard::v1::WatchRequest*,
                     grpc::ServerWriter<runyard::v1::WatchEvent>*) override;
  grpc::Status ListFiles(grpc::ServerContext*, const runyard::v1::ListFilesRequest*,
                         runyard::v1::ListFilesResponse*) override;
  grpc::Status ReadFile(grpc::ServerContext*, const runyard::v1::ReadFileRequest*,
                        grpc::ServerWriter<runyard::v1::FileChunk>*) override;
  grpc::Status ListAgents(grpc::ServerContext*, const runyard::v1::ListAgentsRequest*,
                          runyard::v1::ListAgentsResponse*) override;
  grpc::Status GetMetrics(grpc::ServerContext*, const runyard::v1::GetMetricsRequest*,
                          runyard::v1::GetMetricsResponse*) override;
  grpc::Status SetTags(grpc::ServerContext*, const runyard::v1::SetTagsRequest*,
                       runyard::v1::Run*) override;
  grpc::Status ListExperiments(grpc::ServerContext*, const runyard::v1::ListExperimentsRequest*,
                               runyard::v1::ListExperimentsResponse*) override;
  grpc::Status SetExperimentArchived(grpc::ServerContext*,
                                     const runyard::v1::SetExperimentArchivedRequest*,
                                     runyard::v1::ExperimentInfo*) override;

 private:
  ControlPlane* plane_;
  RequestGate* gate_;
};

class AgentsService final : public runyard::v1::Agents::Service {
 public:
  AgentsService(ControlPlane* plane, RequestGate* gate) : plane_(plane), gate_(gate) {}
  grpc::Status Register(grpc::ServerContext*, const runyard::v1::RegisterRequest*,
                        runyard::v1::RegisterResponse*) override;
  grpc::Status Poll(grpc::ServerContext*, const runyard::v1::PollRequest*,
                    runyard::v1::PollResponse*) override;
  grpc::Status UpdateStatus(grpc::ServerContext*, const runyard::v1::UpdateStatusRequest*,
                            runyard::v1::UpdateStatusResponse*) override;
  grpc::Status Append(grpc::ServerContext*, const runyard::v1::AppendRequest*,
                      runyard::v1::AppendResponse*) override;
  grpc::Status Report(grpc::ServerContext*, const runyard::v1::ReportRequest*,
                      runyard::v1::ReportResponse*) override;

  // Bytes of run files agents appended so far (for /metrics).
  int64_t appended_bytes() const { return appended_bytes_.load(); }

 private:
  ControlPlane* plane_;
  RequestGate* gate_;
  std::atomic<int64_t> appended_bytes_{0};
};

// Tokens and the audit (admins; WhoAmI for every user token).
class AccessService final : public runyard::v1::Access::Service {
 public:
  AccessService(ControlPlane* plane, RequestGate* gate) : plane_(plane), gate_(gate) {}
  grpc::Status CreateToken(grpc::ServerContext*, const runyard::v1::CreateTokenRequest*,
                           runyard::v1::CreateTokenResponse*) override;
  grpc::Status ListTokens(grpc::ServerContext*, const runyard::v1::ListTokensRequest*,
                          runyard::v1::ListTokensResponse*) override;
  grpc::Status RevokeToken(grpc::ServerContext*, const runyard::v1::RevokeTokenRequest*,
                           runyard::v1::TokenInfo*) override;
  grpc::Status WhoAmI(grpc::ServerContext*, const runyard::v1::WhoAmIRequest*,
                      runyard::v1::TokenInfo*) override;
  grpc::Status ListAudit(grpc::ServerContext*, const runyard::v1::ListAuditRequest*,
                         runyard::v1::ListAuditResponse*) override;

 private:
  ControlPlane* plane_;
  RequestGate* gate_;
};

// absl::Status → grpc::Status (same codes).
grpc::Status ToGrpc(const absl::Status& status);

}  // namespace runyard::server
