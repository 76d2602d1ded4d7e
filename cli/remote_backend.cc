#include "cli/remote_backend.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/status_names.h"

namespace runyard::cli {
namespace {

constexpr auto kCallTimeout = std::chrono::seconds(60);

// Names the server in errors a user sees, and says what to check when it is unreachable.
absl::Status FromGrpc(const grpc::Status& status, const std::string& address) {
  if (status.ok()) return absl::OkStatus();
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    return absl::UnavailableError(absl::StrCat("cannot reach runyard-server at ", address, ": ",
                                               status.error_message()));
  }
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() + kCallTimeout);
}

// One unary call with a deadline; `call(context, response)` makes it.
template <typename Response, typename Call>
absl::StatusOr<Response> Unary(const std::string& address, Call call) {
  grpc::ClientContext context;
  SetDeadline(&context);
  Response response;
  if (absl::Status s = FromGrpc(call(&context, &response), address); !s.ok()) return s;
  return response;
}

}  // namespace

RemoteBackend::RemoteBackend(const std::string& address)
    : address_(address),
      channel_(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
      runs_(runyard::v1::Runs::NewStub(channel_)),
      cas_(runyard::v1::Cas::NewStub(channel_)) {}

absl::StatusOr<int64_t> RemoteBackend::UploadSnapshot(const std::string& digest,
                                                      const std::string& archive_path) {
  runyard::v1::FindMissingBlobsRequest find;
  find.add_digests(digest);
  auto missing = Unary<runyard::v1::FindMissingBlobsResponse>(
      address_, [&](auto* c, auto* r) { return cas_->FindMissingBlobs(c, find, r); });
  if (!missing.ok()) return missing.status();
  if (missing->missing_size() == 0) return 0;  // the server has it already
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(30));
  runyard::v1::UploadBlobResponse response;
  auto writer = cas_->UploadBlob(&context, &response);
  std::ifstream in(archive_path, std::ios::binary);
  std::string buffer(1 << 20, '\0');
  int64_t sent = 0;
  runyard::v1::BlobChunk chunk;
  chunk.set_digest(digest);
  do {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    chunk.set_data(buffer.data(), static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
    if (!writer->Write(chunk)) break;
    sent += static_cast<int64_t>(chunk.data().size());
  } while (in);
  writer->WritesDone();
  if (absl::Status s = FromGrpc(writer->Finish(), address_); !s.ok()) return s;
  return sent;
}

absl::StatusOr<runyard::v1::Run> RemoteBackend::Submit(const runyard::v1::RunSpec& spec) {
  runyard::v1::SubmitRequest request;
  *request.mutable_spec() = spec;
  return Unary<runyard::v1::Run>(address_, [&](auto* c, auto* r) { return runs_->Submit(c, request, r); });
}

absl::StatusOr<runyard::v1::Run> RemoteBackend::Get(const std::string& run_id) {
  runyard::v1::GetRunRequest request;
  request.set_run_id(run_id);
  return Unary<runyard::v1::Run>(address_, [&](auto* c, auto* r) { return runs_->Get(c, request, r); });
}

absl::StatusOr<std::vector<runyard::v1::Run>> RemoteBackend::List(const std::string& experiment, int limit) {
  runyard::v1::ListRunsRequest request;
  request.set_experiment(experiment);
  request.set_limit(limit);
  auto response = Unary<runyard::v1::ListRunsResponse>(
      address_, [&](auto* c, auto* r) { return runs_->List(c, request, r); });
  if (!response.ok()) return response.status();
  return std::vector<runyard::v1::Run>(response->runs().begin(), response->runs().end());
}

absl::StatusOr<runyard::v1::Run> RemoteBackend::Cancel(const std::string& run_id) {
  runyard::v1::CancelRunRequest request;
  request.set_run_id(run_id);
  return Unary<runyard::v1::Run>(address_, [&](auto* c, auto* r) { return runs_->Cancel(c, request, r); });
}

absl::StatusOr<std::vector<runyard::v1::FileInfo>> RemoteBackend::ListFiles(const std::string& run_id) {
  runyard::v1::ListFilesRequest request;
  request.set_run_id(run_id);
  auto response = Unary<runyard::v1::ListFilesResponse>(
      address_, [&](auto* c, auto* r) { return runs_->ListFiles(c, request, r); });
  if (!response.ok()) return response.status();
  return std::vector<runyard::v1::FileInfo>(response->files().begin(), response->files().end());
}

absl::Status RemoteBackend::ReadFile(const std::string& run_id, const std::string& path, std::ostream& out) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(30));
  runyard::v1::ReadFileRequest request;
  request.set_run_id(run_id);
  request.set_path(path);
  auto reader = runs_->ReadFile(&context, request);
  runyard::v1::FileChunk chunk;
  while (reader->Read(&chunk)) out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
  return FromGrpc(reader->Finish(), address_);
}

absl::StatusOr<runyard::v1::Run> RemoteBackend::Watch(
    const std::string& run_id, int64_t log_offset,
    const std::function<void(std::string_view)>& on_log,
    const std::function<void(const runyard::v1::Run&)>& on_run) {
  grpc::ClientContext context;
  runyard::v1::WatchRequest request;
  request.set_run_id(run_id);
  request.set_log_offset(log_offset);
  auto reader = runs_->Watch(&context, request);
  runyard::v1::WatchEvent event;
  runyard::v1::Run last;
  bool have_run = false;
  while (reader->Read(&event)) {
    if (event.has_run()) {
      last = event.run();
      have_run = true;
      if (on_run) on_run(last);
    } else {
      on_log(event.log_bytes());
    }
  }
  absl::Status status = FromGrpc(reader->Finish(), address_);
  if (!status.ok()) return status;
  if (!have_run) return Get(run_id);
  return last;
}

}  // namespace runyard::cli
