#include "agent/grpc_links.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/digest.h"

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

absl::StatusOr<runtime::FetchStats> GrpcBlobSource::FetchMissing(const std::vector<std::string>& digests,
                                                                  common::CasDirectory& cache) {
  constexpr size_t kBatch = 512;
  std::lock_guard lock(mutex_);
  std::vector<std::string> missing;
  for (const auto& digest : digests) {
    if (!common::IsValidDigest(digest)) {
      return absl::FailedPreconditionError(absl::StrCat("'", digest, "' is not a SHA-256 digest"));
    }
    if (!cache.Has(digest)) missing.push_back(digest);
  }
  runtime::FetchStats stats;
  for (size_t start = 0; start < missing.size(); start += kBatch) {
    std::vector<std::string> batch(missing.begin() + static_cast<std::ptrdiff_t>(start),
                                   missing.begin() + static_cast<std::ptrdiff_t>(std::min(missing.size(), start + kBatch)));
    if (absl::Status s = FetchBatch(batch, cache, &stats); !s.ok()) return s;
  }
  return stats;
}

absl::Status GrpcBlobSource::FetchBatch(const std::vector<std::string>& digests, common::CasDirectory& cache,
                                        runtime::FetchStats* stats) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(30));
  runyard::v1::FetchBlobsRequest request;
  for (const auto& digest : digests) request.add_digests(digest);
  auto reader = stub_->FetchBlobs(&context, request);
  runyard::v1::BlobChunk chunk;
  std::unique_ptr<common::CasDirectory::Writer> writer;
  std::string current;
  size_t next = 0;
  absl::Status failure;
  // Chunks arrive blob after blob, in the order asked; offset 0 starts the next blob.
  auto finish_current = [&]() -> absl::Status {
    if (!writer) return absl::OkStatus();
    const int64_t size = writer->offset();
    absl::Status committed = writer->Commit();
    writer.reset();
    if (!committed.ok()) return committed;
    stats->blobs++;
    stats->bytes += size;
    return absl::OkStatus();
  };
  while (failure.ok() && reader->Read(&chunk)) {
    if (chunk.offset() == 0) {
      failure = finish_current();
      if (!failure.ok()) break;
      if (next >= digests.size() || chunk.digest() != digests[next]) {
        failure = absl::DataLossError("server sent blob " + chunk.digest() + " out of order");
        break;
      }
      ++next;
      current = chunk.digest();
      absl::StatusOr<std::unique_ptr<common::CasDirectory::Writer>> started = cache.StartWrite(current);
      if (!started.ok()) {
        failure = started.status();
        break;
      }
      writer = std::move(*started);
    }
    if (!writer || chunk.digest() != current || chunk.offset() != writer->offset()) {
      failure = absl::DataLossError("server sent a chunk of " + chunk.digest() + " out of order");
      break;
    }
    failure = writer->Append(chunk.data());
  }
  if (failure.ok()) failure = finish_current();
  if (!failure.ok()) {
    context.TryCancel();
    (void)reader->Finish();
    return failure;
  }
  if (absl::Status s = FromGrpc(reader->Finish()); !s.ok()) return s;
  if (next != digests.size()) return absl::DataLossError("server sent fewer blobs than asked");
  return absl::OkStatus();
}

}  // namespace runyard::agent
