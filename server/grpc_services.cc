#include "server/grpc_services.h"

#include <fstream>

#include "common/status_names.h"

namespace runyard::server {
namespace {
constexpr size_t kChunkBytes = 1 << 20;
}

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

template <typename T, typename Out>
grpc::Status Reply(absl::StatusOr<T> result, Out* out) {
  if (!result.ok()) return ToGrpc(result.status());
  *out = std::move(*result);
  return grpc::Status::OK;
}

// ------------------------------------------------------------------ Cas

grpc::Status CasService::FindMissingBlobs(grpc::ServerContext*, const runyard::v1::FindMissingBlobsRequest* request,
                                          runyard::v1::FindMissingBlobsResponse* response) {
  for (const auto& digest : request->digests()) {
    if (!common::IsValidDigest(digest)) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "'" + digest + "' is not a SHA-256 digest");
    }
    if (!blobs_->Has(digest)) response->add_missing(digest);
  }
  return grpc::Status::OK;
}

grpc::Status CasService::BatchUploadBlobs(grpc::ServerContext*, const runyard::v1::BatchUploadBlobsRequest* request,
                                          runyard::v1::BatchUploadBlobsResponse*) {
  for (const auto& blob : request->blobs()) {
    if (blobs_->Has(blob.digest())) continue;
    absl::StatusOr<std::unique_ptr<BlobStore::Writer>> writer = blobs_->StartWrite(blob.digest());
    if (!writer.ok()) return ToGrpc(writer.status());
    if (absl::Status s = (*writer)->Append(blob.data()); !s.ok()) return ToGrpc(s);
    if (absl::Status s = (*writer)->Commit(); !s.ok()) return ToGrpc(s);
  }
  return grpc::Status::OK;
}

// Resumable: the first chunk's offset must be what GetUploadOffset said; the blob is
// published only once the bytes hash to its digest.
grpc::Status CasService::UploadBlob(grpc::ServerContext*, grpc::ServerReader<runyard::v1::BlobChunk>* reader,
                                    runyard::v1::UploadBlobResponse* response) {
  runyard::v1::BlobChunk chunk;
  if (!reader->Read(&chunk)) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty upload");
  const std::string digest = chunk.digest();
  {
    std::lock_guard lock(uploads_mutex_);
    if (!uploads_in_flight_.insert(digest).second) {
      return grpc::Status(grpc::StatusCode::ABORTED, "blob " + digest + " is being uploaded by another client");
    }
  }
  struct Release {
    CasService* self;
    std::string digest;
    ~Release() {
      std::lock_guard lock(self->uploads_mutex_);
      self->uploads_in_flight_.erase(digest);
    }
  } release{this, digest};

  absl::StatusOr<std::unique_ptr<BlobStore::Writer>> writer = blobs_->StartWrite(digest, /*resumable=*/true);
  if (!writer.ok()) return ToGrpc(writer.status());
  if (chunk.offset() != (*writer)->offset()) {
    return grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                        "upload of " + digest + " must resume at " + std::to_string((*writer)->offset()));
  }
  do {
    if (chunk.digest() != digest) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "one blob per upload");
    if (absl::Status s = (*writer)->Append(chunk.data()); !s.ok()) return ToGrpc(s);
  } while (reader->Read(&chunk));
  const int64_t size = (*writer)->offset();
  if (absl::Status s = (*writer)->Commit(); !s.ok()) return ToGrpc(s);
  response->set_digest(digest);
  response->set_size(size);
  return grpc::Status::OK;
}

grpc::Status CasService::GetUploadOffset(grpc::ServerContext*, const runyard::v1::GetUploadOffsetRequest* request,
                                         runyard::v1::GetUploadOffsetResponse* response) {
  if (!common::IsValidDigest(request->digest())) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "'" + request->digest() + "' is not a SHA-256 digest");
  }
  response->set_complete(blobs_->Has(request->digest()));
  response->set_offset(response->complete() ? 0 : blobs_->PartialSize(request->digest()));
  return grpc::Status::OK;
}

bool CasService::SendBlob(const std::string& digest, grpc::ServerWriter<runyard::v1::BlobChunk>* writer) {
  std::ifstream in(blobs_->PathOf(digest), std::ios::binary);
  in.seekg(0, std::ios::end);
  const int64_t size = in.tellg();
  in.seekg(0);
  runyard::v1::BlobChunk chunk;
  chunk.set_digest(digest);
  chunk.set_size(size);
  int64_t offset = 0;
  do {  // an empty blob still sends one chunk, so the receiver learns it
    // Read straight into the message: one copy less per byte.
    std::string* data = chunk.mutable_data();
    data->resize(static_cast<size_t>(std::min<int64_t>(kChunkBytes, size - offset)));
    in.read(data->data(), static_cast<std::streamsize>(data->size()));
    data->resize(static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
    chunk.set_offset(offset);
    if (!writer->Write(chunk)) return false;
    offset += static_cast<int64_t>(data->size());
  } while (in && offset < size);
  return true;
}

grpc::Status CasService::FetchBlob(grpc::ServerContext*, const runyard::v1::FetchBlobRequest* request,
                                   grpc::ServerWriter<runyard::v1::BlobChunk>* writer) {
  if (!blobs_->Has(request->digest())) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "blob " + request->digest() + " not found");
  }
  SendBlob(request->digest(), writer);
  return grpc::Status::OK;
}

grpc::Status CasService::FetchBlobs(grpc::ServerContext*, const runyard::v1::FetchBlobsRequest* request,
                                    grpc::ServerWriter<runyard::v1::BlobChunk>* writer) {
  for (const auto& digest : request->digests()) {
    if (!blobs_->Has(digest)) return grpc::Status(grpc::StatusCode::NOT_FOUND, "blob " + digest + " not found");
  }
  for (const auto& digest : request->digests()) {
    if (!SendBlob(digest, writer)) break;
  }
  return grpc::Status::OK;
}

grpc::Status CasService::GetSnapshotLimits(grpc::ServerContext*, const runyard::v1::GetSnapshotLimitsRequest*,
                                           runyard::v1::SnapshotLimits* response) {
  *response = limits_;
  return grpc::Status::OK;
}

// ------------------------------------------------------------------ Runs

grpc::Status RunsService::Submit(grpc::ServerContext*, const runyard::v1::SubmitRequest* request,
                                 runyard::v1::Run* response) {
  if (request->spec().compute_target() == "local") {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "compute_target 'local' runs on your machine; the server runs pools");
  }
  return Reply(plane_->Submit(request->spec(), request->snapshot_limits()), response);
}

grpc::Status RunsService::Get(grpc::ServerContext*, const runyard::v1::GetRunRequest* request,
                              runyard::v1::Run* response) {
  return Reply(plane_->Get(request->run_id()), response);
}

grpc::Status RunsService::List(grpc::ServerContext*, const runyard::v1::ListRunsRequest* request,
                               runyard::v1::ListRunsResponse* response) {
  absl::StatusOr<std::vector<runyard::v1::Run>> runs = plane_->List(request->experiment(), request->limit());
  if (!runs.ok()) return ToGrpc(runs.status());
  for (auto& run : *runs) *response->add_runs() = std::move(run);
  return grpc::Status::OK;
}

grpc::Status RunsService::Cancel(grpc::ServerContext*, const runyard::v1::CancelRunRequest* request,
                                 runyard::v1::Run* response) {
  return Reply(plane_->Cancel(request->run_id()), response);
}

// Streams the run (on every status change) and its std_log.txt bytes until the run has
// ended and every byte was sent.
grpc::Status RunsService::Watch(grpc::ServerContext* context, const runyard::v1::WatchRequest* request,
                                grpc::ServerWriter<runyard::v1::WatchEvent>* writer) {
  absl::StatusOr<std::filesystem::path> log_path =
      plane_->files()->Locate(request->run_id(), "user_logs/std_log.txt");
  if (!log_path.ok()) return ToGrpc(log_path.status());
  int64_t offset = std::max<int64_t>(request->log_offset(), 0);
  runyard::v1::RunStatus sent_status = runyard::v1::RUN_STATUS_UNSPECIFIED;
  size_t sent_history = 0;
  std::string buffer(kChunkBytes, '\0');
  while (!context->IsCancelled()) {
    const uint64_t version = plane_->Version();
    absl::StatusOr<runyard::v1::Run> run = plane_->Get(request->run_id());
    if (!run.ok()) return ToGrpc(run.status());
    if (run->status() != sent_status || static_cast<size_t>(run->history_size()) != sent_history) {
      runyard::v1::WatchEvent event;
      *event.mutable_run() = *run;
      if (!writer->Write(event)) return grpc::Status::OK;
      sent_status = run->status();
      sent_history = static_cast<size_t>(run->history_size());
    }
    // Log bytes after the status: once a terminal status is seen, the log is complete.
    std::ifstream in(*log_path, std::ios::binary);
    if (in) {
      in.seekg(offset);
      while (in) {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        if (in.gcount() <= 0) break;
        runyard::v1::WatchEvent event;
        event.set_log_bytes(buffer.data(), static_cast<size_t>(in.gcount()));
        event.set_log_offset(offset);
        if (!writer->Write(event)) return grpc::Status::OK;
        offset += in.gcount();
      }
    }
    if (common::IsTerminal(run->status())) return grpc::Status::OK;
    plane_->WaitForChange(version, std::chrono::steady_clock::now() + std::chrono::seconds(1));
  }
  return grpc::Status::OK;
}

grpc::Status RunsService::ListFiles(grpc::ServerContext*, const runyard::v1::ListFilesRequest* request,
                                    runyard::v1::ListFilesResponse* response) {
  if (absl::Status exists = plane_->Get(request->run_id()).status(); !exists.ok()) return ToGrpc(exists);
  absl::StatusOr<std::vector<runyard::v1::FileInfo>> files = plane_->store()->ListFiles(request->run_id());
  if (!files.ok()) return ToGrpc(files.status());
  for (auto& file : *files) *response->add_files() = std::move(file);
  return grpc::Status::OK;
}

grpc::Status RunsService::ReadFile(grpc::ServerContext*, const runyard::v1::ReadFileRequest* request,
                                   grpc::ServerWriter<runyard::v1::FileChunk>* writer) {
  absl::StatusOr<std::filesystem::path> path = plane_->files()->Locate(request->run_id(), request->path());
  if (!path.ok()) return ToGrpc(path.status());
  std::ifstream in(*path, std::ios::binary);
  if (!in) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "run " + request->run_id() + " has no file '" + request->path() + "'");
  }
  in.seekg(0, std::ios::end);
  const int64_t total = in.tellg();
  int64_t offset = std::max<int64_t>(request->offset(), 0);
  in.seekg(offset);
  std::string buffer(kChunkBytes, '\0');
  runyard::v1::FileChunk chunk;
  chunk.set_total_size(total);
  do {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto got = std::max<std::streamsize>(in.gcount(), 0);
    chunk.set_offset(offset);
    chunk.set_data(buffer.data(), static_cast<size_t>(got));
    if (!writer->Write(chunk)) break;
    offset += got;
  } while (in && offset < total);
  return grpc::Status::OK;
}

grpc::Status RunsService::ListAgents(grpc::ServerContext*, const runyard::v1::ListAgentsRequest* request,
                                     runyard::v1::ListAgentsResponse* response) {
  absl::StatusOr<std::vector<runyard::v1::AgentInfo>> agents =
      plane_->ListAgents(request->pool(), request->include_offline());
  if (!agents.ok()) return ToGrpc(agents.status());
  for (auto& agent : *agents) *response->add_agents() = std::move(agent);
  return grpc::Status::OK;
}

// ------------------------------------------------------------------ Agents

grpc::Status AgentsService::Register(grpc::ServerContext*, const runyard::v1::RegisterRequest* request,
                                     runyard::v1::RegisterResponse* response) {
  return Reply(plane_->Register(*request), response);
}

grpc::Status AgentsService::Poll(grpc::ServerContext* context, const runyard::v1::PollRequest* request,
                                 runyard::v1::PollResponse* response) {
  return Reply(plane_->Poll(*request, [context] { return context->IsCancelled(); }), response);
}

grpc::Status AgentsService::UpdateStatus(grpc::ServerContext*, const runyard::v1::UpdateStatusRequest* request,
                                         runyard::v1::UpdateStatusResponse* response) {
  return Reply(plane_->UpdateStatus(*request), response);
}

grpc::Status AgentsService::Append(grpc::ServerContext*, const runyard::v1::AppendRequest* request,
                                   runyard::v1::AppendResponse* response) {
  grpc::Status status = Reply(plane_->Append(*request), response);
  if (status.ok()) appended_bytes_ += static_cast<int64_t>(request->data().size());
  return status;
}

grpc::Status AgentsService::Report(grpc::ServerContext*, const runyard::v1::ReportRequest* request,
                                   runyard::v1::ReportResponse* response) {
  int64_t appended = 0;
  *response = plane_->Report(*request, &appended);
  appended_bytes_ += appended;
  return grpc::Status::OK;
}

}  // namespace runyard::server
