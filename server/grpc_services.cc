#include "server/grpc_services.h"

#include <string>
#include <vector>

#include "server/peer_address.h"

namespace runyard::server {

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

namespace {

template <typename T, typename Out>
grpc::Status Reply(absl::StatusOr<T> result, Out* out) {
  if (!result.ok()) return ToGrpc(result.status());
  *out = std::move(*result);
  return grpc::Status::OK;
}

template <typename Repeated>
std::vector<std::string> ToVector(const Repeated& strings) {
  return std::vector<std::string>(strings.begin(), strings.end());
}

// Writes one message of a server stream; false once the client has gone.
template <typename Message>
auto WriteTo(grpc::ServerWriter<Message>* writer) {
  return [writer](const Message& message) { return writer->Write(message); };
}

}  // namespace

// ------------------------------------------------------------------ Cas

grpc::Status CasService::FindMissingBlobs(grpc::ServerContext* context,
                                          const runyard::v1::FindMissingBlobsRequest* request,
                                          runyard::v1::FindMissingBlobsResponse* response) {
  if (auto who = gate_->Admit(context, "/runyard.v1.Cas/FindMissingBlobs", request); !who.ok())
    return ToGrpc(who.status());
  absl::StatusOr<std::vector<std::string>> missing =
      plane_->FindMissingBlobs(ToVector(request->digests()));
  if (!missing.ok()) return ToGrpc(missing.status());
  for (std::string& digest : *missing) response->add_missing(std::move(digest));
  return grpc::Status::OK;
}

grpc::Status CasService::BatchUploadBlobs(grpc::ServerContext* context,
                                          const runyard::v1::BatchUploadBlobsRequest* request,
                                          runyard::v1::BatchUploadBlobsResponse*) {
  if (auto who = gate_->Admit(context, "/runyard.v1.Cas/BatchUploadBlobs", request); !who.ok())
    return ToGrpc(who.status());
  for (const auto& blob : request->blobs()) {
    if (absl::Status stored = plane_->PutBlob(blob.digest(), blob.data()); !stored.ok())
      return ToGrpc(stored);
  }
  return grpc::Status::OK;
}

// Resumable: the first chunk's offset must be what GetUploadOffset said; the blob is
// published only once the bytes hash to its digest. Admitted before anything is read.
grpc::Status CasService::UploadBlob(grpc::ServerContext* context,
                                    grpc::ServerReader<runyard::v1::BlobChunk>* reader,
                                    runyard::v1::UploadBlobResponse* response) {
  constexpr std::string_view kMethod = "/runyard.v1.Cas/UploadBlob";
  if (auto who = gate_->Admit(context, kMethod, nullptr); !who.ok()) return ToGrpc(who.status());
  runyard::v1::BlobChunk chunk;
  if (!reader->Read(&chunk))
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty upload");
  if (absl::Status s = gate_->CheckStreamMessage(kMethod, chunk); !s.ok()) return ToGrpc(s);
  absl::StatusOr<std::unique_ptr<BlobUploads::Upload>> upload =
      plane_->StartBlobUpload(chunk.digest(), chunk.offset());
  if (!upload.ok()) return ToGrpc(upload.status());
  while (true) {
    if (chunk.digest() != (*upload)->digest()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "one blob per upload");
    }
    if (absl::Status s = (*upload)->Append(chunk.data()); !s.ok()) return ToGrpc(s);
    if (!reader->Read(&chunk)) break;
    if (absl::Status s = gate_->CheckStreamMessage(kMethod, chunk); !s.ok()) return ToGrpc(s);
  }
  const int64_t size = (*upload)->offset();
  if (absl::Status s = (*upload)->Commit(); !s.ok()) return ToGrpc(s);
  response->set_digest((*upload)->digest());
  response->set_size(size);
  return grpc::Status::OK;
}

grpc::Status CasService::GetUploadOffset(grpc::ServerContext* context,
                                         const runyard::v1::GetUploadOffsetRequest* request,
                                         runyard::v1::GetUploadOffsetResponse* response) {
  if (auto who = gate_->Admit(context, "/runyard.v1.Cas/GetUploadOffset", request); !who.ok())
    return ToGrpc(who.status());
  return Reply(plane_->BlobUploadOffset(request->digest()), response);
}

grpc::Status CasService::FetchBlob(grpc::ServerContext* context,
                                   const runyard::v1::FetchBlobRequest* request,
                                   grpc::ServerWriter<runyard::v1::BlobChunk>* writer) {
  if (auto who = gate_->Admit(context, "/runyard.v1.Cas/FetchBlob", request); !who.ok())
    return ToGrpc(who.status());
  return ToGrpc(plane_->ReadBlobs({request->digest()}, WriteTo(writer)));
}

grpc::Status CasService::FetchBlobs(grpc::ServerContext* context,
                                    const runyard::v1::FetchBlobsRequest* request,
                                    grpc::ServerWriter<runyard::v1::BlobChunk>* writer) {
  if (auto who = gate_->Admit(context, "/runyard.v1.Cas/FetchBlobs", request); !who.ok())
    return ToGrpc(who.status());
  return ToGrpc(plane_->ReadBlobs(ToVector(request->digests()), WriteTo(writer)));
}

grpc::Status CasService::GetSnapshotLimits(grpc::ServerContext* context,
                                           const runyard::v1::GetSnapshotLimitsRequest* request,
                                           runyard::v1::SnapshotLimits* response) {
  if (auto who = gate_->Admit(context, "/runyard.v1.Cas/GetSnapshotLimits", request); !who.ok())
    return ToGrpc(who.status());
  *response = plane_->DefaultSnapshotLimits();
  return grpc::Status::OK;
}

// ------------------------------------------------------------------ Runs

grpc::Status RunsService::Submit(grpc::ServerContext* context,
                                 const runyard::v1::SubmitRequest* request,
                                 runyard::v1::Run* response) {
  absl::StatusOr<Identity> who = gate_->Admit(context, "/runyard.v1.Runs/Submit", request);
  if (!who.ok()) return ToGrpc(who.status());
  return Reply(plane_->Submit(request->spec(), request->snapshot_limits(), *who), response);
}

grpc::Status RunsService::Get(grpc::ServerContext* context,
                              const runyard::v1::GetRunRequest* request,
                              runyard::v1::Run* response) {
  if (auto who = gate_->Admit(context, "/runyard.v1.Runs/Get", request); !who.ok())
    return ToGrpc(who.status());
  return Reply(plane_->Get(request->run_id()), response);
}

grpc::Status RunsService::List(grpc::ServerContext* context,
                               const runyard::v1::ListRunsRequest* request,
                               runyard::v1::ListRunsResponse* response) {
  if (auto who = gate_->Admit(context, "/runyard.v1.Runs/List", request); !who.ok())
    return ToGrpc(who.status());
  absl::StatusOr<std::vector<runyard::v1::Run>> runs = plane_->List(*request);
  if (!runs.ok()) return ToGrpc(runs.status());
  for (auto& run : *runs) *response->add_runs() = std::move(run);
  return grpc::Status::OK;
}

grpc::Status RunsService::Cancel(grpc::ServerContext* context,
                                 const runyard::v1::CancelRunRequest* request,
                                 runyard::v1::Run* response) {
  absl::StatusOr<Identity> who = gate_->Admit(context, "/runyard.v1.Runs/Cancel", request);
  if (!who.ok()) return ToGrpc(who.status());
  return Reply(plane_->Cancel(request->run_id(), *who), response);
}

grpc::Status RunsService::Watch(grpc::ServerContext* context,
                                const runyard::v1::WatchRequest* request,
                                grpc::ServerWriter<runyard::v1::WatchEvent>* writer) {
  if (auto who = gate_->Admit(context, "/runyard.v1.Runs/Watch", request); !who.ok())
    return ToGrpc(who.status());
  return ToGrpc(
      plane_->Watch(*request, WriteTo(writer), [context] { return context->IsCancelled(); })
          .status());
}

grpc::Status RunsService::ListFiles(grpc::ServerContext* context,
                                    const runyard::v1::ListFilesRequest* request,
                                    runyard::v1::ListFilesResponse* response) {
  if (auto who = gate_->Admit(context, "/runyard.v1.Runs/ListFiles", request); !who.ok())
    return ToGrpc(who.status());
  absl::StatusOr<std::vector<runyard::v1::FileInfo>> listed = plane_->ListFiles(request->run_id());
  if (!listed.ok()) return ToGrpc(listed.status());
  for (auto& file : *listed) *response->add_files() = std::move(file);
  return grpc::Status::OK;
}

grpc::Status RunsService::ReadFile(grpc::ServerContext* context,
                                   const runyard::v1::ReadFileRequest* request,
                                   grpc::ServerWriter<runyard::v1::FileChunk>* writer) {
  if (auto who = gate_->Admit(context, "/runyard.v1.Runs/ReadFile", request); !who.ok())
    return ToGrpc(who.status());
  return ToGrpc(
      plane_->ReadFile(request->run_id(), request->path(), request->offset(), WriteTo(writer)));
}

grpc::Status RunsService::ListAgents(grpc::ServerContext* context,
                                     const runyard::v1::ListAgentsRequest* request,
                                     runyard::v1::ListAgentsResponse* response) {
  if (auto who = gate_->Admit(context, "/runyard.v1.Runs/ListAgents", request); !who.ok())
    return ToGrpc(who.status());
  absl::StatusOr<std::vector<runyard::v1::AgentInfo>> agents =
      plane_->ListAgents(request->pool(), request->include_offline());
  if (!agents.ok()) return ToGrpc(agents.status());
  for (auto& agent : *agents) *response->add_agents() = std::move(agent);
  return grpc::Status::OK;
}

grpc::Status RunsService::GetMetrics(grpc::ServerContext* context,
                                     const runyard::v1::GetMetricsRequest* request,
                                     runyard::v1::GetMetricsResponse* response) {
  if (auto who = gate_->Admit(context, "/runyard.v1.Runs/GetMetrics", request); !who.ok())
    return ToGrpc(who.status());
  return Reply(plane_->GetMetrics(*request), response);
}

grpc::Status RunsService::SetTags(grpc::ServerContext* context,
                                  const runyard::v1::SetTagsRequest* request,
                                  runyard::v1::Run* response) {
  if (auto who = gate_->Admit(context, "/runyard.v1.Runs/SetTags", request); !who.ok())
    return ToGrpc(who.status());
  return Reply(plane_->SetTags(*request), response);
}

grpc::Status RunsService::ListExperiments(grpc::ServerContext* context,
                                          const runyard::v1::ListExperimentsRequest* request,
                                          runyard::v1::ListExperimentsResponse* response) {
  if (auto who = gate_->Admit(context, "/runyard.v1.Runs/ListExperiments", request); !who.ok())
    return ToGrpc(who.status());
  absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>> experiments =
      plane_->ListExperiments(request->include_archived());
  if (!experiments.ok()) return ToGrpc(experiments.status());
  for (auto& experiment : *experiments) *response->add_experiments() = std::move(experiment);
  return grpc::Status::OK;
}

grpc::Status RunsService::SetExperimentArchived(
    grpc::ServerContext* context, const runyard::v1::SetExperimentArchivedRequest* request,
    runyard::v1::ExperimentInfo* response) {
  if (auto who = gate_->Admit(context, "/runyard.v1.Runs/SetExperimentArchived", request);
      !who.ok())
    return ToGrpc(who.status());
  return Reply(plane_->SetExperimentArchived(request->name(), request->archived()), response);
}

// ------------------------------------------------------------------ Agents

grpc::Status AgentsService::Register(grpc::ServerContext* context,
                                     const runyard::v1::RegisterRequest* request,
                                     runyard::v1::RegisterResponse* response) {
  absl::StatusOr<Identity> who = gate_->Admit(context, "/runyard.v1.Agents/Register", request);
  if (!who.ok()) return ToGrpc(who.status());
  if (!request->address().empty()) return Reply(plane_->Register(*request, *who), response);
  // No address configured on the agent: the one it connects from is how others reach it.
  runyard::v1::RegisterRequest with_address = *request;
  with_address.set_address(PeerAddress(context->peer()));
  return Reply(plane_->Register(with_address, *who), response);
}

grpc::Status AgentsService::Poll(grpc::ServerContext* context,
                                 const runyard::v1::PollRequest* request,
                                 runyard::v1::PollResponse* response) {
  if (auto who = gate_->Admit(context, "/runyard.v1.Agents/Poll", request); !who.ok())
    return ToGrpc(who.status());
  return Reply(plane_->Poll(*request, [context] { return context->IsCancelled(); }), response);
}

grpc::Status AgentsService::UpdateStatus(grpc::ServerContext* context,
                                         const runyard::v1::UpdateStatusRequest* request,
                                         runyard::v1::UpdateStatusResponse* response) {
  if (auto who = gate_->Admit(context, "/runyard.v1.Agents/UpdateStatus", request); !who.ok())
    return ToGrpc(who.status());
  return Reply(plane_->UpdateStatus(*request), response);
}

grpc::Status AgentsService::Append(grpc::ServerContext* context,
                                   const runyard::v1::AppendRequest* request,
                                   runyard::v1::AppendResponse* response) {
  if (auto who = gate_->Admit(context, "/runyard.v1.Agents/Append", request); !who.ok())
    return ToGrpc(who.status());
  grpc::Status status = Reply(plane_->Append(*request), response);
  if (status.ok()) appended_bytes_ += static_cast<int64_t>(request->data().size());
  return status;
}

grpc::Status AgentsService::Report(grpc::ServerContext* context,
                                   const runyard::v1::ReportRequest* request,
                                   runyard::v1::ReportResponse* response) {
  if (auto who = gate_->Admit(context, "/runyard.v1.Agents/Report", request); !who.ok())
    return ToGrpc(who.status());
  int64_t appended = 0;
  *response = plane_->Report(*request, &appended);
  appended_bytes_ += appended;
  return grpc::Status::OK;
}

// ------------------------------------------------------------------ Access

grpc::Status AccessService::CreateToken(grpc::ServerContext* context,
                                        const runyard::v1::CreateTokenRequest* request,
                                        runyard::v1::CreateTokenResponse* response) {
  absl::StatusOr<Identity> who = gate_->Admit(context, "/runyard.v1.Access/CreateToken", request);
  if (!who.ok()) return ToGrpc(who.status());
  return Reply(plane_->CreateToken(*who, *request), response);
}

grpc::Status AccessService::ListTokens(grpc::ServerContext* context,
                                       const runyard::v1::ListTokensRequest* request,
                                       runyard::v1::ListTokensResponse* response) {
  if (auto who = gate_->Admit(context, "/runyard.v1.Access/ListTokens", request); !who.ok())
    return ToGrpc(who.status());
  return Reply(plane_->ListTokens(*request), response);
}

grpc::Status AccessService::RevokeToken(grpc::ServerContext* context,
                                        const runyard::v1::RevokeTokenRequest* request,
                                        runyard::v1::TokenInfo* response) {
  absl::StatusOr<Identity> who = gate_->Admit(context, "/runyard.v1.Access/RevokeToken", request);
  if (!who.ok()) return ToGrpc(who.status());
  return Reply(plane_->RevokeToken(*who, request->token_id()), response);
}

grpc::Status AccessService::WhoAmI(grpc::ServerContext* context,
                                   const runyard::v1::WhoAmIRequest* request,
                                   runyard::v1::TokenInfo* response) {
  absl::StatusOr<Identity> who = gate_->Admit(context, "/runyard.v1.Access/WhoAmI", request);
  if (!who.ok()) return ToGrpc(who.status());
  *response = plane_->WhoAmI(*who);
  return grpc::Status::OK;
}

grpc::Status AccessService::ListAudit(grpc::ServerContext* context,
                                      const runyard::v1::ListAuditRequest* request,
                                      runyard::v1::ListAuditResponse* response) {
  if (auto who = gate_->Admit(context, "/runyard.v1.Access/ListAudit", request); !who.ok())
    return ToGrpc(who.status());
  return Reply(plane_->ListAudit(*request), response);
}

}  // namespace runyard::server
