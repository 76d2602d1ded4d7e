#include "runtime/reporting_observer.h"

#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_names.h"
#include "runtime/file_range.h"

namespace runyard::runtime {
namespace fs = std::filesystem;
namespace {

constexpr size_t kMaxAppendBytes = 1 << 20;  // one Append carries at most this
// How long one record may keep failing before the sender gives up and leaves the spool
// for the next agent process to finish.
constexpr auto kGiveUpAfter = std::chrono::minutes(15);
constexpr auto kFirstDelay = std::chrono::milliseconds(100);
constexpr auto kMaxDelay = std::chrono::milliseconds(5000);

auto Log() { return common::Logger("agent"); }

bool IsTransient(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status) ||
         absl::IsResourceExhausted(status) || absl::IsAborted(status) || absl::IsInternal(status) ||
         absl::IsCancelled(status) || absl::IsUnknown(status);
}

// Full jitter: a random wait up to the current ceiling, so that agents cut off together
// do not come back together.
std::chrono::milliseconds Jittered(std::chrono::milliseconds ceiling) {
  thread_local std::mt19937 random(std::random_device{}());
  std::uniform_int_distribution<int64_t> pick(ceiling.count() / 2, ceiling.count());
  return std::chrono::milliseconds(pick(random));
}

}  // namespace

ReportingObserver::ReportingObserver(RunReporter* reporter, runyard::v1::Lease lease, CancelToken* cancel,
                                     fs::path spool_file)
    : reporter_(reporter), lease_(std::move(lease)), cancel_(cancel), spool_file_(std::move(spool_file)) {
  absl::StatusOr<std::unique_ptr<UploadSpool>> spool = UploadSpool::Open(spool_file_);
  if (!spool.ok()) {
    Log()->error("run {}: {}; spooling to a temporary file (not resumable)", lease_.run_id(),
                 std::string(spool.status().message()));
    spool_file_.clear();
    spool = UploadSpool::Open({});
  }
  spool_ = std::move(spool).value();
  if (!spool_file_.empty()) {
    std::ofstream(spool_file_.string() + ".lease", std::ios::binary | std::ios::trunc) << lease_.SerializeAsString();
  }
  sender_ = std::thread([this] { SendLoop(); });
}

ReportingObserver::~ReportingObserver() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  sender_.join();
}

void ReportingObserver::Spool(const SpoolRecord& record) {
  if (absl::Status spooled = spool_->Append(record); !spooled.ok()) {
    Log()->error("run {}: {}", lease_.run_id(), std::string(spooled.message()));
    return;
  }
  std::lock_guard lock(mutex_);
  changed_.notify_all();
}

void ReportingObserver::OnFileBytes(const std::string& path, int64_t offset, std::string_view data,
                                    bool truncate) {
  if (on_std_log && path == "user_logs/std_log.txt") on_std_log(data);
  SpoolRecord record;
  record.kind = SpoolRecord::Kind::kFileBytes;
  record.path = path;
  record.offset = offset;
  record.truncate = truncate;
  record.payload = std::string(data);
  Spool(record);
}

void ReportingObserver::OnFileRange(const std::string& path, const fs::path& source, int64_t offset,
                                    int64_t length) {
  if (on_std_log) return RunObserver::OnFileRange(path, source, offset, length);
  SpoolRecord record;
  record.kind = SpoolRecord::Kind::kFileRange;
  record.path = path;
  record.offset = offset;
  record.source = source;
  record.length = length;
  Spool(record);
}

void ReportingObserver::OnStatus(runyard::v1::RunStatus status) {
  runyard::v1::UpdateStatusRequest request;
  request.set_status(status);
  SpoolRecord record;
  record.kind = SpoolRecord::Kind::kStatus;
  record.payload = request.SerializeAsString();
  Spool(record);
}

void ReportingObserver::OnFinished(const RunOutcome& outcome) {
  runyard::v1::UpdateStatusRequest request;
  request.set_status(outcome.status);
  request.set_has_exit_code(outcome.has_exit_code);
  request.set_exit_code(outcome.exit_code);
  *request.mutable_error() = outcome.error;
  if (outcome.usage.measured()) *request.mutable_usage() = outcome.usage;
  SpoolRecord record;
  record.kind = SpoolRecord::Kind::kStatus;
  record.payload = request.SerializeAsString();
  Spool(record);
  {
    std::lock_guard lock(mutex_);
    finished_spooled_ = true;
  }
  Drain();
}

bool ReportingObserver::Drain() {
  const int64_t target = spool_->end();
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return spool_->sent() >= target || sender_stopped_; });
  const bool all_sent = spool_->sent() >= target;
  if (all_sent && finished_spooled_ && spool_->sent() == spool_->end()) {
    spool_->Remove();
    std::error_code ec;
    if (!spool_file_.empty()) fs::remove(spool_file_.string() + ".lease", ec);
  }
  return all_sent;
}

void ReportingObserver::ReadRange(SpoolRecord& record) {
  if (record.kind != SpoolRecord::Kind::kFileRange) return;
  int64_t short_by = 0;
  record.payload = ReadFileRange(record.source, record.offset, record.length, &short_by);
  record.kind = SpoolRecord::Kind::kFileBytes;
  if (short_by > 0) {
    Log()->warn("run {}: {} lost {} bytes before the agent sent them (it shrank under the agent); sent as NUL bytes",
                lease_.run_id(), record.source.string(), short_by);
  }
}

std::pair<SpoolRecord, int64_t> ReportingObserver::NextBatch(int64_t position) {
  std::optional<std::pair<SpoolRecord, int64_t>> first = spool_->ReadAt(position);
  if (!first) return {SpoolRecord{}, position};
  auto [batch, next] = std::move(*first);
  ReadRange(batch);
  if (batch.kind != SpoolRecord::Kind::kFileBytes) return {std::move(batch), next};
  // Contiguous bytes of the same file ride in the same Append.
  while (batch.payload.size() < kMaxAppendBytes) {
    std::optional<std::pair<SpoolRecord, int64_t>> more = spool_->ReadAt(next);
    if (!more) break;
    SpoolRecord& record = more->first;
    const int64_t size = record.kind == SpoolRecord::Kind::kFileRange ? record.length
                                                                         : static_cast<int64_t>(record.payload.size());
    if (record.kind == SpoolRecord::Kind::kStatus || record.truncate || record.path != batch.path ||
        record.offset != batch.offset + static_cast<int64_t>(batch.payload.size()) ||
        static_cast<int64_t>(batch.payload.size()) + size > static_cast<int64_t>(kMaxAppendBytes)) {
      break;
    }
    ReadRange(record);  // only once it is known to ride in this batch
    batch.payload.append(record.payload);
    next = more->second;
  }
  return {std::move(batch), next};
}

void ReportingObserver::SendLoop() {
  int64_t position = spool_->sent();
  int64_t rewound_at = -1;  // a gap is answered by sending everything again, once per place
  while (true) {
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return position < spool_->end() || stop_; });
      if (position >= spool_->end()) return;  // stopping with nothing left
    }
    auto [record, next] = NextBatch(position);
    if (next == position) {  // unreadable: nothing more can be sent
      Log()->error("run {}: the upload spool is unreadable at {}", lease_.run_id(), position);
      break;
    }
    const Sent sent = SendRecord(record);
    if (sent == Sent::kGap && rewound_at != position) {
      Log()->warn("run {}: the server lacks bytes of {} before {}: sending the run's files again",
                  lease_.run_id(), record.path, record.offset);
      rewound_at = position;
      position = 0;
      continue;
    }
    if (sent == Sent::kLeaseLost || sent == Sent::kGaveUp) break;
    position = next;
    spool_->MarkSent(position);
    std::lock_guard lock(mutex_);
    changed_.notify_all();
  }
  std::lock_guard lock(mutex_);
  sender_stopped_ = true;
  changed_.notify_all();
}

ReportingObserver::Sent ReportingObserver::SendRecord(const SpoolRecord& record) {
  if (record.kind == SpoolRecord::Kind::kFileBytes) {
    runyard::v1::AppendRequest request;
    *request.mutable_lease() = lease_;
    request.set_path(record.path);
    request.set_offset(record.offset);
    request.set_data(record.payload);
    request.set_truncate(record.truncate);
    return Retry([&] { return reporter_->Append(request).status(); }, "append to " + record.path);
  }
  runyard::v1::UpdateStatusRequest request;
  if (!request.ParseFromString(record.payload)) return Sent::kDone;  // cannot happen: we wrote it
  *request.mutable_lease() = lease_;
  return Retry([&]() -> absl::Status {
    absl::StatusOr<runyard::v1::UpdateStatusResponse> response = reporter_->UpdateStatus(request);
    if (!response.ok()) return response.status();
    if (response->cancel_requested()) cancel_->RequestCancel(CancelToken::Reason::kUserCancel);
    return absl::OkStatus();
  }, "status " + common::StatusName(request.status()));
}

ReportingObserver::Sent ReportingObserver::Retry(const std::function<absl::Status()>& call,
                                                 const std::string& what) {
  const auto began = std::chrono::steady_clock::now();
  auto ceiling = std::chrono::duration_cast<std::chrono::milliseconds>(kFirstDelay);
  for (int attempt = 1;; ++attempt) {
    absl::Status status = call();
    if (status.ok()) {
      if (attempt > 1) Log()->info("run {}: {} went through after {} attempts", lease_.run_id(), what, attempt);
      return Sent::kDone;
    }
    if (absl::IsOutOfRange(status)) return Sent::kGap;
    if (absl::IsFailedPrecondition(status) || absl::IsNotFound(status)) {
      Log()->warn("run {}: {} refused: {}; stopping the run", lease_.run_id(), what, std::string(status.message()));
      cancel_->RequestCancel(CancelToken::Reason::kLeaseLost);
      return Sent::kLeaseLost;
    }
    if (!IsTransient(status)) {
      Log()->error("run {}: {} failed: {}; skipped", lease_.run_id(), what, status.ToString());
      return Sent::kDone;  // the control plane will never take it; the rest still goes
    }
    if (attempt == 1 || attempt % 10 == 0) {
      Log()->warn("run {}: {} failed ({}); retrying (spooled on disk meanwhile)", lease_.run_id(), what,
                  std::string(status.message()));
    }
    std::unique_lock lock(mutex_);
    if (std::chrono::steady_clock::now() - began > kGiveUpAfter || stop_) {
      Log()->error("run {}: {} still failing: {}; left in the spool for the next agent start", lease_.run_id(),
                   what, status.ToString());
      return Sent::kGaveUp;
    }
    changed_.wait_for(lock, Jittered(ceiling), [&] { return stop_; });
    ceiling = std::min(ceiling * 2, std::chrono::duration_cast<std::chrono::milliseconds>(kMaxDelay));
  }
}

}  // namespace runyard::runtime
