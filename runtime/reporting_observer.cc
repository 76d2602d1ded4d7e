#include "runtime/reporting_observer.h"

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_names.h"

namespace runyard::runtime {
namespace {

constexpr size_t kMaxQueuedBytes = 64 << 20;   // past this, the script's output waits
constexpr size_t kMaxAppendBytes = 1 << 20;    // one Append carries at most this
constexpr int kMaxAttempts = 12;               // ~1 minute of backoff before giving up

auto Log() { return common::Logger("agent"); }

bool IsTransient(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status) ||
         absl::IsResourceExhausted(status) || absl::IsAborted(status) || absl::IsInternal(status);
}

}  // namespace

ReportingObserver::ReportingObserver(RunReporter* reporter, runyard::v1::Lease lease,
                                     CancelToken* cancel)
    : reporter_(reporter), lease_(std::move(lease)), cancel_(cancel),
      sender_([this] { SendLoop(); }) {}

ReportingObserver::~ReportingObserver() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  queue_changed_.notify_all();
  sender_.join();
}

bool ReportingObserver::Retry(const std::function<absl::Status()>& call, const std::string& what) {
  auto delay = std::chrono::milliseconds(100);
  for (int attempt = 1;; ++attempt) {
    absl::Status status = call();
    if (status.ok()) return true;
    if (absl::IsFailedPrecondition(status) || absl::IsNotFound(status)) {
      Log()->warn("run {}: {} refused: {}; stopping the run", lease_.run_id(), what, std::string(status.message()));
      {
        std::lock_guard lock(mutex_);
        lease_lost_ = true;
      }
      cancel_->RequestCancel(CancelToken::Reason::kLeaseLost);
      return false;
    }
    if (!IsTransient(status) || attempt >= kMaxAttempts) {
      Log()->error("run {}: {} failed: {}", lease_.run_id(), what, status.ToString());
      return false;
    }
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(5000));
  }
}

void ReportingObserver::OnFileBytes(const std::string& path, int64_t offset, std::string_view data,
                                    bool truncate) {
  if (on_std_log && path == "user_logs/std_log.txt") on_std_log(data);
  std::unique_lock lock(mutex_);
  queue_changed_.wait(lock, [&] { return queued_bytes_ < kMaxQueuedBytes || lease_lost_ || stop_; });
  if (lease_lost_) return;
  // Contiguous bytes for the same file ride in the same Append.
  if (!queue_.empty() && !truncate) {
    Pending& last = queue_.back();
    if (last.path == path && last.offset + static_cast<int64_t>(last.data.size()) == offset &&
        last.data.size() + data.size() <= kMaxAppendBytes) {
      last.data.append(data);
      queued_bytes_ += data.size();
      queue_changed_.notify_all();
      return;
    }
  }
  queue_.push_back(Pending{path, offset, std::string(data), truncate});
  queued_bytes_ += data.size();
  queue_changed_.notify_all();
}

void ReportingObserver::SendLoop() {
  std::unique_lock lock(mutex_);
  while (true) {
    queue_changed_.wait(lock, [&] { return !queue_.empty() || stop_; });
    if (queue_.empty()) return;  // stopping with nothing left
    Pending next = std::move(queue_.front());
    queue_.pop_front();
    sending_ = true;
    lock.unlock();
    runyard::v1::AppendRequest request;
    *request.mutable_lease() = lease_;
    request.set_path(next.path);
    request.set_offset(next.offset);
    request.set_data(std::move(next.data));
    request.set_truncate(next.truncate);
    if (!lease_lost_) {
      Retry([&] { return reporter_->Append(request).status(); }, "append to " + next.path);
    }
    lock.lock();
    sending_ = false;
    queued_bytes_ -= request.data().size();
    queue_changed_.notify_all();
  }
}

void ReportingObserver::WaitUntilSent() {
  std::unique_lock lock(mutex_);
  queue_changed_.wait(lock, [&] { return (queue_.empty() && !sending_) || lease_lost_; });
}

void ReportingObserver::SendStatus(const runyard::v1::UpdateStatusRequest& request) {
  WaitUntilSent();
  if (lease_lost_) return;
  Retry([&]() -> absl::Status {
    absl::StatusOr<runyard::v1::UpdateStatusResponse> response = reporter_->UpdateStatus(request);
    if (!response.ok()) return response.status();
    if (response->cancel_requested()) cancel_->RequestCancel(CancelToken::Reason::kUserCancel);
    return absl::OkStatus();
  }, "status " + common::StatusName(request.status()));
}

void ReportingObserver::OnStatus(runyard::v1::RunStatus status) {
  runyard::v1::UpdateStatusRequest request;
  *request.mutable_lease() = lease_;
  request.set_status(status);
  SendStatus(request);
}

void ReportingObserver::OnFinished(const RunOutcome& outcome) {
  runyard::v1::UpdateStatusRequest request;
  *request.mutable_lease() = lease_;
  request.set_status(outcome.status);
  request.set_has_exit_code(outcome.has_exit_code);
  request.set_exit_code(outcome.exit_code);
  *request.mutable_error() = outcome.error;
  if (outcome.usage.measured()) *request.mutable_usage() = outcome.usage;
  SendStatus(request);
}

}  // namespace runyard::runtime
