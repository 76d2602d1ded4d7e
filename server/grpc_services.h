#pragma once

#include <memory>

#include <grpcpp/grpcpp.h>

#include "runyard/v1/services.grpc.pb.h"
#include "server/control_plane.h"

namespace runyard::server {

// The gRPC face of the control plane: thin adapters, no logic of their own.

class CasService final : public runyard::v1::Cas::Service {
 public:
  explicit CasService(BlobStore* blobs) : blobs_(blobs) {}
  grpc::Status FindMissingBlobs(grpc::ServerContext*, const runyard::v1::FindMissingBlobsRequest*,
                                runyard::v1::FindMissingBlobsResponse*) override;
  grpc::Status UploadBlob(grpc::ServerContext*, grpc::ServerReader<runyard::v1::BlobChunk>*,
                          runyard::v1::UploadBlobResponse*) override;
  grpc::Status FetchBlob(grpc::ServerContext*, const runyard::v1::FetchBlobRequest*,
                         grpc::ServerWriter<runyard::v1::BlobChunk>*) override;

 private:
  BlobStore* blobs_;
};

class RunsService final : public runyard::v1::Runs::Service {
 public:
  explicit RunsService(ControlPlane* plane) : plane_(plane) {}
  grpc::Status Submit(grpc::ServerContext*, const runyard::v1::SubmitRequest*, runyard::v1::Run*) override;
  grpc::Status Get(grpc::ServerContext*, const runyard::v1::GetRunRequest*, runyard::v1::Run*) override;
  grpc::Status List(grpc::ServerContext*, const runyard::v1::ListRunsRequest*,
                    runyard::v1::ListRunsResponse*) override;
  grpc::Status Cancel(grpc::ServerContext*, const runyard::v1::CancelRunRequest*, runyard::v1::Run*) override;
  grpc::Status Watch(grpc::ServerContext*, const runyard::v1::WatchRequest*,
                     grpc::ServerWriter<runyard::v1::WatchEvent>*) override;
  grpc::Status ListFiles(grpc::ServerContext*, const runyard::v1::ListFilesRequest*,
                         runyard::v1::ListFilesResponse*) override;
  grpc::Status ReadFile(grpc::ServerContext*, const runyard::v1::ReadFileRequest*,
                        grpc::ServerWriter<runyard::v1::FileChunk>*) override;

 private:
  ControlPlane* plane_;
};

class AgentsService final : public runyard::v1::Agents::Service {
 public:
  explicit AgentsService(ControlPlane* plane) : plane_(plane) {}
  grpc::Status Register(grpc::ServerContext*, const runyard::v1::RegisterRequest*,
                        runyard::v1::RegisterResponse*) override;
  grpc::Status Poll(grpc::ServerContext*, const runyard::v1::PollRequest*, runyard::v1::PollResponse*) override;
  grpc::Status UpdateStatus(grpc::ServerContext*, const runyard::v1::UpdateStatusRequest*,
                            runyard::v1::UpdateStatusResponse*) override;
  grpc::Status Append(grpc::ServerContext*, const runyard::v1::AppendRequest*,
                      runyard::v1::AppendResponse*) override;

 private:
  ControlPlane* plane_;
};

// absl::Status → grpc::Status (same codes).
grpc::Status ToGrpc(const absl::Status& status);

}  // namespace runyard::server
