#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <deque>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "runtime/cancel_token.h"
#include "runtime/log_redaction.h"
#include "runtime/observer.h"
#include "runtime/upload_spool.h"
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
  // Several records in one call (ReportRequest in services.proto). This default makes one
  // Append or UpdateStatus call per item, which is all an in-process control plane needs.
  // An error status means nothing was applied.
  virtual absl::StatusOr<runyard::v1::ReportResponse> Report(const runyard::v1::ReportRequest& request);
};

// A RunObserver that reports under a lease. Everything (file bytes and statuses) is
// written to the run's upload spool first and sent in order by a sender thread, so the
// script's output never waits for the network and memory does not grow with it. Failed
// sends are retried with jittered exponential backoff from what the control plane
// acknowledged; a lease that is no longer ours cancels the run. OnFinished waits until
// everything, the terminal status last, was acknowledged. The run's secret values
// (OnSecrets) are masked in its logs on the way (runtime/log_redaction.h), and kept beside
// a named spool for the process that may finish it.
class ReportingObserver : public RunObserver {
 public:
  // `spool_file`: where the run's spool lives, next to `<spool_file>.lease`, so that a
  // later agent process can finish sending it (runtime/upload_salvage.h). Empty: an
  // unnamed temporary file.
  ReportingObserver(RunReporter* reporter, runyard::v1::Lease lease, CancelToken* cancel,
                    std::filesystem::path spool_file = {});
  ~ReportingObserver() override;

  void OnSecrets(const std::vector<std::string>& secrets) override;
  void OnStatus(runyard::v1::RunStatus status) override;
  void OnFileBytes(const std::string& path, int64_t offset, std::string_view data,
                   bool truncate) override;
  // Spools only where the bytes are; they are read when sent (unless on_std_log wants them
  // now). False when the spool could not be written.
  bool OnFileRange(const std::string& path, const std::filesystem::path& source, int64_t offset,
                   int64_t length) override;
  // `acknowledged` runs on the sender thread once the control plane acknowledged
  // everything spooled before this call (at once, on this thread, when that is already
  // so). Callbacks whose bytes are never acknowledged (the sender gave up or lost the
  // lease, skipped a record the control plane refused for good, or the observer is
  // destroyed first) are dropped, never called: they claim an acknowledgement. Nothing
  // waits on them.
  void WhenAcknowledged(std::function<void()> acknowledged) override;
  void OnFinished(const RunOutcome& outcome) override;

  // Waits until everything spooled so far was sent (or cannot be); true when it was, and
  // the spool is then removed if the run's terminal status was among it.
  bool Drain();

  // Optional: also called with every byte of the run files `std_log_paths` (local mode
  // prints them; a distributed local run adds rank 0's log).
  std::function<void(std::string_view)> on_std_log;
  std::set<std::string> std_log_paths = {"user_logs/std_log.txt"};

 private:
  enum class Sent { kDone, kLeaseLost, kRetry, kGap };

  // False (logged) when the spool could not be written: the record is not in it.
  bool Spool(const SpoolRecord& record);
  // Spools bytes of a run file, handing those of a printed log to on_std_log first.
  bool SpoolBytes(const SpoolRecord& record);
  // Null until the run's secrets are known (none: nothing is masked).
  std::shared_ptr<LogRedaction> Redaction();
  void SendLoop();
  // Runs (outside the lock) the WhenAcknowledged callbacks that `sent` covers.
  void RunAcknowledged(int64_t sent);
  // A record from spool position `from` will never reach the control plane: the callbacks
  // waiting for a position past it are dropped (those before it stay).
  void DropAcknowledgementsAfter(int64_t from);
  // The record at `position`, with the contiguous bytes of the same file after it merged
  // in (up to one Append's worth); and the position after what was taken.
  std::pair<SpoolRecord, int64_t> NextBatch(int64_t position);
  // What one Report sends: records from `position` (each one NextBatch), and the spool
  // position after each.
  struct PendingReport {
    int64_t start = 0;  // the spool position of the first record
    std::vector<SpoolRecord> records;
    std::vector<int64_t> ends;
  };
  PendingReport NextReport(int64_t position);
  // A file range becomes the bytes it names (read from its source now).
  void ReadRange(SpoolRecord& record);
  // Sends the report once; `applied`: how many records, from the first, the control plane
  // took (or refused for good: those are skipped and logged, and `skipped_from` is set to
  // the spool position where the first of them starts). kGap, kLeaseLost and kRetry (a
  // transient failure, in `failure`) are about record `applied`.
  Sent SendReport(const PendingReport& report, size_t* applied, std::optional<int64_t>* skipped_from,
                  absl::Status* failure);
  void AddItem(const SpoolRecord& record, runyard::v1::ReportRequest& request);
  static std::string Describe(const SpoolRecord& record);

  RunReporter* reporter_;
  runyard::v1::Lease lease_;
  CancelToken* cancel_;
  std::filesystem::path spool_file_;
  std::unique_ptr<UploadSpool> spool_;
  std::mutex redaction_mutex_;
  std::shared_ptr<LogRedaction> redaction_ ABSL_GUARDED_BY(redaction_mutex_);

  std::mutex mutex_;
  std::condition_variable changed_;
  bool stop_ = false;
  bool finished_spooled_ = false;      // the terminal status is in the spool
  bool sender_stopped_ = false;        // lease lost, or gave up: nothing more will be sent
  // WhenAcknowledged callbacks waiting for the spool position they follow, in order.
  struct Acknowledgement {
    int64_t position;
    std::function<void()> callback;
  };
  std::deque<Acknowledgement> acknowledgements_ ABSL_GUARDED_BY(mutex_);
  std::thread sender_;
};

}  // namespace runyard::runtime
