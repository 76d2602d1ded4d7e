#include "cli/remote_backend.h"

#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cli/remote_call.h"
#include "common/status_names.h"

namespace runyard::cli {

RemoteBackend::RemoteBackend(const ServerConnection& connection)
    : connection_(connection),
      channel_(OpenChannel(connection_)),
      runs_(runyard::v1::Runs::NewStub(channel_)),
      cas_(runyard::v1::Cas::NewStub(channel_)) {}

absl::StatusOr<std::vector<std::string>> RemoteBackend::FindMissingBlobs(const std::vector<std::string>& digests) {
  constexpr size_t kBatch = 10000;  // keeps each request well under the message size limit
  std::vector<std::string> missing;
  for (size_t start = 0; start < digests.size(); start += kBatch) {
    runyard::v1::FindMissingBlobsRequest request;
    for (size_t i = start; i < std::min(digests.size(), start + kBatch); ++i) request.add_digests(digests[i]);
    auto response = UnaryCall<runyard::v1::FindMissingBlobsResponse>(
        connection_, [&](auto* c, auto* r) { return cas_->FindMissingBlobs(c, request, r); });
    if (!response.ok()) return response.status();
    missing.insert(missing.end(), response->missing().begin(), response->missing().end());
  }
  return missing;
}

absl::Status RemoteBackend::UploadBlobs(const std::vector<std::pair<std::string, std::string>>& blobs) {
  runyard::v1::BatchUploadBlobsRequest request;
  for (const auto& [digest, bytes] : blobs) {
    auto* blob = request.add_blobs();
    blob->set_digest(digest);
    blob->set_data(bytes);
  }
  return UnaryCall<runyard::v1::BatchUploadBlobsResponse>(
             connection_, [&](auto* c, auto* r) { return cas_->BatchUploadBlobs(c, request, r); })
      .status();
}

absl::Status RemoteBackend::UploadFileBlob(const std::string& digest, const std::filesystem::path& file,
                                           const std::function<void(int64_t)>& on_progress) {
  // A broken stream resumes where the server's partial copy ends, a few times over.
  constexpr int kAttempts = 5;
  grpc::Status last;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    runyard::v1::GetUploadOffsetRequest query;
    query.set_digest(digest);
    auto offset = UnaryCall<runyard::v1::GetUploadOffsetResponse>(
        connection_, [&](auto* c, auto* r) { return cas_->GetUploadOffset(c, query, r); });
    if (!offset.ok()) return offset.status();
    if (offset->complete()) return absl::OkStatus();
    std::ifstream in(file, std::ios::binary);
    if (!in) return absl::NotFoundError("cannot read " + file.string());
    in.seekg(offset->offset());
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::hours(2));
    runyard::v1::UploadBlobResponse response;
    auto writer = cas_->UploadBlob(&context, &response);
    std::string buffer(1 << 20, '\0');
    runyard::v1::BlobChunk chunk;
    chunk.set_digest(digest);
    int64_t position = offset->offset();
    do {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      chunk.set_offset(position);
      chunk.set_data(buffer.data(), static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
      if (!writer->Write(chunk)) break;
      position += static_cast<int64_t>(chunk.data().size());
      if (on_progress) on_progress(static_cast<int64_t>(chunk.data().size()));
    } while (in);
    writer->WritesDone();
    last = writer->Finish();
    if (last.ok()) return absl::OkStatus();
    if (last.error_code() != grpc::StatusCode::UNAVAILABLE && last.error_code() != grpc::StatusCode::ABORTED &&
        last.error_code() != grpc::StatusCode::OUT_OF_RANGE) {
      return RemoteStatus(last, connection_);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200 << attempt));
  }
  return RemoteStatus(last, connection_);
}

absl::Status RemoteBackend::ReadBlob(const std::string& digest, const std::function<void(std::string_view)>& sink) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::hours(1));
  runyard::v1::FetchBlobRequest request;
  request.set_digest(digest);
  auto reader = cas_->FetchBlob(&context, request);
  runyard::v1::BlobChunk chunk;
  while (reader->Read(&chunk)) sink(chunk.data());
  return RemoteStatus(reader->Finish(), connection_);
}

absl::StatusOr<runyard::v1::SnapshotLimits> RemoteBackend::DefaultSnapshotLimits() {
  runyard::v1::GetSnapshotLimitsRequest request;
  return UnaryCall<runyard::v1::SnapshotLimits>(
      connection_, [&](auto* c, auto* r) { return cas_->GetSnapshotLimits(c, request, r); });
}

absl::StatusOr<runyard::v1::Run> RemoteBackend::Submit(const runyard::v1::RunSpec& spec,
                                                       const runyard::v1::SnapshotLimits& limits) {
  runyard::v1::SubmitRequest request;
  *request.mutable_spec() = spec;
  *request.mutable_snapshot_limits() = limits;
  return UnaryCall<runyard::v1::Run>(connection_, [&](auto* c, auto* r) { return runs_->Submit(c, request, r); });
}

absl::StatusOr<runyard::v1::Run> RemoteBackend::Get(const std::string& run_id) {
  runyard::v1::GetRunRequest request;
  request.set_run_id(run_id);
  return UnaryCall<runyard::v1::Run>(connection_, [&](auto* c, auto* r) { return runs_->Get(c, request, r); });
}

absl::StatusOr<std::vector<runyard::v1::Run>> RemoteBackend::List(const runyard::v1::ListRunsRequest& request) {
  auto response = UnaryCall<runyard::v1::ListRunsResponse>(
      connection_, [&](auto* c, auto* r) { return runs_->List(c, request, r); });
  if (!response.ok()) return response.status();
  return std::vector<runyard::v1::Run>(response->runs().begin(), response->runs().end());
}

absl::StatusOr<runyard::v1::GetMetricsResponse> RemoteBackend::GetMetrics(
    const runyard::v1::GetMetricsRequest& request) {
  return UnaryCall<runyard::v1::GetMetricsResponse>(
      connection_, [&](auto* c, auto* r) { return runs_->GetMetrics(c, request, r); });
}

absl::StatusOr<runyard::v1::Run> RemoteBackend::SetTags(const runyard::v1::SetTagsRequest& request) {
  return UnaryCall<runyard::v1::Run>(connection_, [&](auto* c, auto* r) { return runs_->SetTags(c, request, r); });
}

absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>> RemoteBackend::ListExperiments(bool include_archived) {
  runyard::v1::ListExperimentsRequest request;
  request.set_include_archived(include_archived);
  auto response = UnaryCall<runyard::v1::ListExperimentsResponse>(
      connection_, [&](auto* c, auto* r) { return runs_->ListExperiments(c, request, r); });
  if (!response.ok()) return response.status();
  return std::vector<runyard::v1::ExperimentInfo>(response->experiments().begin(),
                                                  response->experiments().end());
}

absl::StatusOr<runyard::v1::ExperimentInfo> RemoteBackend::SetExperimentArchived(const std::string& name,
                                                                                  bool archived) {
  runyard::v1::SetExperimentArchivedRequest request;
  request.set_name(name);
  request.set_archived(archived);
  return UnaryCall<runyard::v1::ExperimentInfo>(
      connection_, [&](auto* c, auto* r) { return runs_->SetExperimentArchived(c, request, r); });
}

absl::StatusOr<runyard::v1::Run> RemoteBackend::Cancel(const std::string& run_id) {
  runyard::v1::CancelRunRequest request;
  request.set_run_id(run_id);
  return UnaryCall<runyard::v1::Run>(connection_, [&](auto* c, auto* r) { return runs_->Cancel(c, request, r); });
}

absl::StatusOr<std::vector<runyard::v1::FileInfo>> RemoteBackend::ListFiles(const std::string& run_id) {
  runyard::v1::ListFilesRequest request;
  request.set_run_id(run_id);
  auto response = UnaryCall<runyard::v1::ListFilesResponse>(
      connection_, [&](auto* c, auto* r) { return runs_->ListFiles(c, request, r); });
  if (!response.ok()) return response.status();
  return std::vector<runyard::v1::FileInfo>(response->files().begin(), response->files().end());
}

absl::StatusOr<std::vector<runyard::v1::AgentInfo>> RemoteBackend::ListAgents(const std::string& pool,
                                                                                bool include_offline) {
  runyard::v1::ListAgentsRequest request;
  request.set_pool(pool);
  request.set_include_offline(include_offline);
  auto response = UnaryCall<runyard::v1::ListAgentsResponse>(
      connection_, [&](auto* c, auto* r) { return runs_->ListAgents(c, request, r); });
  if (!response.ok()) return response.status();
  return std::vector<runyard::v1::AgentInfo>(response->agents().begin(), response->agents().end());
}

absl::Status RemoteBackend::ReadFile(const std::string& run_id, const std::string& path, int64_t offset,
                                     const FileChunkSink& sink) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(30));
  runyard::v1::ReadFileRequest request;
  request.set_run_id(run_id);
  request.set_path(path);
  request.set_offset(offset);
  // The stream holds a chunk or so at a time (gRPC flow control), never the whole file.
  auto reader = runs_->ReadFile(&context, request);
  runyard::v1::FileChunk chunk;
  while (reader->Read(&chunk)) {
    if (absl::Status ok = sink(chunk.data(), chunk.total_size()); !ok.ok()) {
      context.TryCancel();
      static_cast<void>(reader->Finish());  // its CANCELLED is ours, not news
      return ok;
    }
  }
  return RemoteStatus(reader->Finish(), connection_);
}

absl::StatusOr<runyard::v1::Run> RemoteBackend::Watch(
    const std::string& run_id, const std::string& log_path, int64_t log_offset,
    const std::function<void(std::string_view)>& on_log,
    const std::function<void(const runyard::v1::Run&)>& on_run) {
  // A dropped stream (server restart, network blip) resumes from the last byte received,
  // so the user sees every byte once; we give up after a minute without a server.
  constexpr auto kGiveUpAfter = std::chrono::seconds(60);
  auto delay = std::chrono::milliseconds(200);
  auto unreachable_since = std::chrono::steady_clock::now();
  runyard::v1::Run last;
  while (true) {
    grpc::ClientContext context;
    runyard::v1::WatchRequest request;
    request.set_run_id(run_id);
    request.set_log_offset(log_offset);
    request.set_log_path(log_path);
    auto reader = runs_->Watch(&context, request);
    runyard::v1::WatchEvent event;
    while (reader->Read(&event)) {
      unreachable_since = std::chrono::steady_clock::now();
      delay = std::chrono::milliseconds(200);
      if (event.has_run()) {
        last = event.run();
        if (on_run) on_run(last);
      } else if (event.log_offset() + static_cast<int64_t>(event.log_bytes().size()) > log_offset) {
        // Skip any part we already passed on (a resumed stream starts where we asked).
        const int64_t skip = std::max<int64_t>(log_offset - event.log_offset(), 0);
        on_log(std::string_view(event.log_bytes()).substr(static_cast<size_t>(skip)));
        log_offset = event.log_offset() + static_cast<int64_t>(event.log_bytes().size());
      }
    }
    const grpc::Status status = reader->Finish();
    if (status.ok()) return common::IsTerminal(last.status()) ? absl::StatusOr<runyard::v1::Run>(last) : Get(run_id);
    // Only the last failure is explained: explaining one looks at the connection afresh.
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE ||
        std::chrono::steady_clock::now() - unreachable_since > kGiveUpAfter) {
      return RemoteStatus(status, connection_);
    }
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(5000));
  }
}

}  // namespace runyard::cli
