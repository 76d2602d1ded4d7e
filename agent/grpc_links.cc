#include "agent/grpc_links.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/digest.h"
#include "common/ids.h"

namespace runyard::agent {
namespace fs = std::filesystem;
namespace {
constexpr auto kCallTimeout = std::chrono::seconds(30);

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() + kCallTimeout);
}
}  // namespace

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

absl::StatusOr<runyard::v1::UpdateStatusResponse> GrpcRunReporter::UpdateStatus(
    const runyard::v1::UpdateStatusRequest& request) {
  grpc::ClientContext context;
  SetDeadline(&context);
  runyard::v1::UpdateStatusResponse response;
  if (absl::Status s = FromGrpc(stub_->UpdateStatus(&context, request, &response)); !s.ok()) return s;
  return response;
}

absl::StatusOr<runyard::v1::AppendResponse> GrpcRunReporter::Append(const runyard::v1::AppendRequest& request) {
  grpc::ClientContext context;
  SetDeadline(&context);
  runyard::v1::AppendResponse response;
  if (absl::Status s = FromGrpc(stub_->Append(&context, request, &response)); !s.ok()) return s;
  return response;
}

absl::StatusOr<fs::path> GrpcSnapshotCache::FetchSnapshot(const std::string& digest) {
  if (!common::IsValidDigest(digest)) {
    return absl::InvalidArgumentError(absl::StrCat("'", digest, "' is not a SHA-256 digest"));
  }
  std::lock_guard lock(mutex_);
  const fs::path target = cache_dir_ / digest;
  std::error_code ec;
  if (fs::is_regular_file(target, ec)) return target;
  fs::create_directories(cache_dir_, ec);
  const fs::path temp = cache_dir_ / (digest + ".part." + common::RandomHex(4));
  {
    std::ofstream out(temp, std::ios::binary);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(30));
    runyard::v1::FetchBlobRequest request;
    request.set_digest(digest);
    auto reader = stub_->FetchBlob(&context, request);
    runyard::v1::BlobChunk chunk;
    while (reader->Read(&chunk)) out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
    absl::Status status = FromGrpc(reader->Finish());
    out.close();
    if (!status.ok() || !out) {
      fs::remove(temp, ec);
      return status.ok() ? absl::ResourceExhaustedError("cannot write " + temp.string()) : status;
    }
  }
  absl::StatusOr<std::string> actual = common::Sha256File(temp);
  if (!actual.ok() || *actual != digest) {
    fs::remove(temp, ec);
    return absl::DataLossError(absl::StrCat("snapshot ", digest, " arrived corrupted"));
  }
  fs::rename(temp, target, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot store snapshot: ", ec.message()));
  return target;
}

}  // namespace runyard::agent
