#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "runtime/cancel_token.h"
#include "runtime/observer.h"
#include "runyard/v1/services.pb.h"

namespace runyard::runtime {

// The two calls a run holder makes to the control plane, whatever carries them: gRPC for
// the agent, an in-process call for local mode.
class RunReporter {
 public:
  virtual ~RunReporter() = default;
  virtual absl::StatusOr<runyard::v1::UpdateStatusResponse> UpdateStatus(
      const runyard::v1::UpdateStatusRequest& request) = 0;
  virtual absl::StatusOr<runyard::v1::AppendResponse> Append(
      const runyard::v1::AppendRequest& request) = 0;
};

// A RunObserver that reports under a lease. File bytes are queued and sent in order by
// a sender thread (so a slow control plane never blocks the script's output until the
// queue is full); statuses go out after every byte queued before them. Transient errors
// are retried with backoff; a lease that is no longer ours cancels the run.
class ReportingObserver : public RunObserver {
 public:
  ReportingObserver(RunReporter* reporter, runyard::v1::Lease lease, CancelToken* cancel);
  ~ReportingObserver() override;

  void OnStatus(runyard::v1::RunStatus status) override;
  void OnFileBytes(const std::string& path, int64_t offset, std::string_view data,
                   bool truncate) override;
  void OnFinished(const RunOutcome& outcome) override;

  // Optional: also called with every user_logs/std_log.txt byte (local mode prints them).
  std::function<void(std::string_view)> on_std_log;

 private:
  struct Pending {
    std::string path;
    int64_t offset;
    std::string data;
    bool truncate;
  };

  void SendLoop();
  void WaitUntilSent();
  void SendStatus(const runyard::v1::UpdateStatusRequest& request);
  bool Retry(const std::function<absl::Status()>& call, const std::string& what);

  RunReporter* reporter_;
  runyard::v1::Lease lease_;
  CancelToken* cancel_;

  std::mutex mutex_;
  std::condition_variable queue_changed_;
  std::deque<Pending> queue_;
  size_t queued_bytes_ = 0;
  bool sending_ = false;
  bool stop_ = false;
  std::atomic<bool> lease_lost_ = false;
  std::thread sender_;
};

}  // namespace runyard::runtime
