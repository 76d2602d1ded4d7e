#include "agent/grpc_links.h"

#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/digest.h"
#include "common/status_macros.h"
#include "common/tls_diagnosis.h"

namespace runyard::agent {
namespace fs = std::filesystem;
namespace {
constexpr auto kCallTimeout = std::chrono::seconds(30);
constexpr auto kRegisterTimeout = std::chrono::seconds(10);
// A poll may be held by the server for its wait_ms; this much more is the network's.
constexpr auto kPollDeadlineBeyondWait = std::chrono::seconds(10);

// gRPC deadlines are real time (not the agent's injected clock): they bound real calls.
void SetDeadline(grpc::ClientContext* context, std::chrono::milliseconds timeout = kCallTimeout) {
  context->set_deadline(std::chrono::system_clock::now() + timeout);
}

// The run id a report is about (every item of one report is one run's); "" when none.
std::string RunOf(const runyard::v1::ReportRequest& request) {
  if (request.items().empty()) return "";
  const runyard::v1::ReportItem& first = request.items(0);
  return first.has_append() ? first.append().lease().run_id() : first.status().lease().run_id();
}

class GrpcPendingPoll final : public PendingPoll {
 public:
  GrpcPendingPoll(runyard::v1::Agents::Stub* stub, GrpcRunReporter* reporter, runyard::v1::PollRequest request)
      : stub_(stub), reporter_(reporter), request_(std::move(request)) {
    SetDeadline(&context_, std::chrono::milliseconds(request_.wait_ms()) + kPollDeadlineBeyondWait);
  }

  absl::StatusOr<runyard::v1::PollResponse> Wait() override {
    runyard::v1::PollResponse response;
    RETURN_IF_ERROR(FromGrpc(stub_->Poll(&context_, request_, &response)));
    // Before the agent starts the runs: their first writes carry their own tokens.
    for (const runyard::v1::Assignment& assignment : response.assignments()) {
      if (!assignment.run_token().empty()) reporter_->SetRunToken(assignment.lease().run_id(), assignment.run_token());
    }
    return response;
  }

  // A cancel before the call starts is kept by the context and ends the call at its start.
  void Cancel() override { context_.TryCancel(); }

 private:
  runyard::v1::Agents::Stub* stub_;
  GrpcRunReporter* reporter_;
  runyard::v1::PollRequest request_;
  grpc::ClientContext context_;
};

}  // namespace

GrpcControlPlaneLink::GrpcControlPlaneLink(std::shared_ptr<grpc::Channel> channel, common::ChannelOptions options)
    : options_(std::move(options)),
      stub_(runyard::v1::Agents::NewStub(channel)),
      reporter_(channel),
      blobs_(channel) {}

absl::StatusOr<runyard::v1::RegisterResponse> GrpcControlPlaneLink::Register(
    const runyard::v1::RegisterRequest& request) {
  grpc::ClientContext context;
  SetDeadline(&context, kRegisterTimeout);
  runyard::v1::RegisterResponse response;
  const grpc::Status status = stub_->Register(&context, request, &response);
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE && !options_.address.empty()) {
    return absl::UnavailableError(common::ExplainConnectionFailure(options_, status));
  }
  RETURN_IF_ERROR(FromGrpc(status));
  return response;
}

std::unique_ptr<PendingPoll> GrpcControlPlaneLink::StartPoll(
    const runyard::v1::PollRequest& request) {
  return std::make_unique<GrpcPendingPoll>(stub_.get(), &reporter_, request);
}

void GrpcRunReporter::SetRunToken(const std::string& run_id, const std::string& token) {
  std::lock_guard lock(tokens_mutex_);
  run_tokens_[run_id] = token;
}

void GrpcRunReporter::ForgetRunToken(const std::string& run_id) {
  std::lock_guard lock(tokens_mutex_);
  run_tokens_.erase(run_id);
}

void GrpcRunReporter::Authorize(grpc::ClientContext* context, const std::string& run_id) {
  std::lock_guard lock(tokens_mutex_);
  if (auto it = run_tokens_.find(run_id); it != run_tokens_.end()) {
    context->AddMetadata("authorization", "Bearer " + it->second);
  }
}

absl::Status FromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

absl::StatusOr<runyard::v1::UpdateStatusResponse> GrpcRunReporter::UpdateStatus(
    const runyard::v1::UpdateStatusRequest& request) {
  grpc::ClientContext context;
  SetDeadline(&context);
  Authorize(&context, request.lease().run_id());
  runyard::v1::UpdateStatusResponse response;
  RETURN_IF_ERROR(FromGrpc(stub_->UpdateStatus(&context, request, &response)));
  return response;
}

absl::StatusOr<runyard::v1::AppendResponse> GrpcRunReporter::Append(
    const runyard::v1::AppendRequest& request) {
  grpc::ClientContext context;
  SetDeadline(&context);
  Authorize(&context, request.lease().run_id());
  runyard::v1::AppendResponse response;
  RETURN_IF_ERROR(FromGrpc(stub_->Append(&context, request, &response)));
  appended_bytes_ += static_cast<int64_t>(request.data().size());
  return response;
}

absl::StatusOr<runyard::v1::ReportResponse> GrpcRunReporter::Report(
    const runyard::v1::ReportRequest& request) {
  if (server_lacks_report_) return RunReporter::Report(request);
  grpc::ClientContext context;
  SetDeadline(&context);
  Authorize(&context, RunOf(request));
  runyard::v1::ReportResponse response;
  if (absl::Status s = FromGrpc(stub_->Report(&context, request, &response)); !s.ok()) {
    if (!absl::IsUnimplemented(s)) return s;
    server_lacks_report_ = true;
    return RunReporter::Report(request);
  }
  for (int i = 0; i < response.applied() && i < request.items_size(); ++i) {
    if (request.items(i).has_append())
      appended_bytes_ += static_cast<int64_t>(request.items(i).append().data().size());
  }
  return response;
}

absl::StatusOr<runtime::FetchStats> GrpcBlobSource::FetchMissing(
    const std::vector<std::string>& digests, common::CasDirectory& cache) {
  constexpr size_t kBatch = 512;
  std::lock_guard lock(mutex_);
  std::vector<std::string> missing;
  for (const auto& digest : digests) {
    if (!common::IsValidDigest(digest)) {
      return absl::FailedPreconditionError(absl::StrCat("'", digest, "' is not a SHA-256 digest"));
    }
    if (!cache.Has(digest)) missing.push_back(digest);
  }
  // Two streams at once keep both ends busy (one receives while the other writes).
  constexpr size_t kStreams = 2;
  std::vector<std::vector<std::string>> batches;
  for (size_t i = 0; i < missing.size(); ++i) {
    if (i % kBatch == 0) batches.emplace_back();
    batches.back().push_back(missing[i]);
  }
  if (batches.size() == 1 && missing.size() > 1) {  // split a single batch in two
    std::vector<std::string> second(
        missing.begin() + static_cast<std::ptrdiff_t>(missing.size() / 2), missing.end());
    batches.front().resize(missing.size() / 2);
    batches.push_back(std::move(second));
  }
  std::vector<runtime::FetchStats> stats(kStreams);
  std::vector<absl::Status> results(kStreams);
  std::vector<std::thread> workers;
  for (size_t worker = 0; worker < kStreams; ++worker) {
    workers.emplace_back([&, worker] {
      for (size_t b = worker; b < batches.size() && results[worker].ok(); b += kStreams) {
        results[worker] = FetchBatch(batches[b], cache, &stats[worker]);
      }
    });
  }
  for (auto& thread : workers) thread.join();
  runtime::FetchStats total;
  for (size_t worker = 0; worker < kStreams; ++worker) {
    if (!results[worker].ok()) return results[worker];
    total.blobs += stats[worker].blobs;
    total.bytes += stats[worker].bytes;
  }
  return total;
}

absl::Status GrpcBlobSource::FetchBatch(const std::vector<std::string>& digests,
                                        common::CasDirectory& cache, runtime::FetchStats* stats) {
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
      absl::StatusOr<std::unique_ptr<common::CasDirectory::Writer>> started =
          cache.StartWrite(current);
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
    (void)reader->Finish();  // canceled: its status says only that; `failure` says why
    return failure;
  }
  RETURN_IF_ERROR(FromGrpc(reader->Finish()));
  if (next != digests.size()) return absl::DataLossError("server sent fewer blobs than asked");
  return absl::OkStatus();
}

}  // namespace runyard::agent
