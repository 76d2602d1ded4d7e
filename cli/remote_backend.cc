#include "cli/remote_backend.h"

#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/grpc_channel.h"
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
      channel_(common::ServerChannel(address)),
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
    absl::Status status = FromGrpc(reader->Finish(), address_);
    if (status.ok()) return common::IsTerminal(last.status()) ? absl::StatusOr<runyard::v1::Run>(last) : Get(run_id);
    if (!absl::IsUnavailable(status) || std::chrono::steady_clock::now() - unreachable_since > kGiveUpAfter) {
      return status;
    }
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(5000));
  }
}

}  // namespace runyard::cli
