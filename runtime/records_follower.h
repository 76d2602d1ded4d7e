#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "runtime/observer.h"

namespace runyard::runtime {

// The in-run API's `committed` file: the offset of records.jsonl up to which the control
// plane acknowledged everything. Shared by the follower and the acknowledgement callbacks
// it hands the observer (which may run after the follower is gone).
class CommittedOffset {
 public:
  // Opens `file` (already holding an offset, e.g. 0) for writing.
  static absl::StatusOr<std::shared_ptr<CommittedOffset>> Open(const std::filesystem::path& file);
  ~CommittedOffset();
  CommittedOffset(const CommittedOffset&) = delete;
  CommittedOffset& operator=(const CommittedOffset&) = delete;

  // Writes `offset` unless a larger one was written: the script's flush() only ever sees
  // the number grow.
  void Advance(int64_t offset);
  int64_t value();

 private:
  explicit CommittedOffset(int fd) : fd_(fd) {}
  std::mutex mutex_;
  const int fd_;
  int64_t value_ ABSL_GUARDED_BY(mutex_) = 0;
};

// How a RecordsFollower bounds what it reports.
struct RecordsFollowerOptions {
  // Nothing of records.jsonl past this many bytes is reported (0: no limit): a script
  // cannot make the node spool, nor the server keep, an unbounded file (a sparse
  // ftruncate, a logging loop). The agent's max_run_api_bytes.
  int64_t max_bytes = 0;
  // Told once, when the file first grows past max_bytes (a line for runtime.txt).
  std::function<void(const std::string&)> on_limit;
};

// Follows records.jsonl while the script runs and reports what it appends as run file
// `history_path` (OnFileRange: the bytes stay in the file, the observer reads them when it
// sends them). An inotify watch wakes it on each write, so a record reaches the spool a
// few ms after the script wrote it; under a flood of writes it reads at most once per
// kMinPassInterval. Without inotify it reads every kPollWithoutInotify. Once a piece is
// spooled, the observer's acknowledgement of it moves `committed` on; a piece the observer
// could not take is offered again kRetryAfterRefusal later (or at the next write).
class RecordsFollower {
 public:
  using Options = RecordsFollowerOptions;

  // Starts following (its own thread). `records` must exist.
  static absl::StatusOr<std::unique_ptr<RecordsFollower>> Start(
      const std::filesystem::path& records, const std::filesystem::path& committed,
      std::string history_path, RunObserver* observer, Options options = {});
  ~RecordsFollower();  // Finish() unless it was called
  RecordsFollower(const RecordsFollower&) = delete;
  RecordsFollower& operator=(const RecordsFollower&) = delete;

  // Every writer is gone: stops following and reports what is left, on this thread; after
  // it, every byte the script wrote (up to max_bytes) is in the observer's hands, unless
  // the observer refused some (it logs why).
  void Finish();

  // Bytes of records.jsonl reported so far.
  int64_t reported() const;

  static constexpr std::chrono::milliseconds kMinPassInterval{2};
  static constexpr std::chrono::milliseconds kPollWithoutInotify{200};
  static constexpr std::chrono::milliseconds kRetryAfterRefusal{200};
  // One OnFileRange covers at most this much (the observer reads a range whole).
  static constexpr int64_t kMaxRangeBytes = 1 << 20;

 private:
  RecordsFollower(std::filesystem::path records, int records_fd, int inotify_fd, int stop_fd,
                  std::shared_ptr<CommittedOffset> committed, std::string history_path,
                  RunObserver* observer, Options options);
  void Loop();
  // Blocks until records.jsonl may have grown; false once stopped.
  bool WaitForWrite();
  // Reports [reported, size) (up to max_bytes) and asks for the acknowledgement of the end
  // of what the observer took.
  void Pass();

  const std::filesystem::path records_;
  const int records_fd_;
  const int inotify_fd_;  // -1: no inotify (polled)
  const int stop_fd_;     // an eventfd, written once by Finish()
  const std::shared_ptr<CommittedOffset> committed_;
  const std::string history_path_;
  RunObserver* const observer_;
  const Options options_;

  mutable std::mutex pass_mutex_;  // one pass at a time (the thread's, then Finish()'s)
  int64_t reported_ ABSL_GUARDED_BY(pass_mutex_) = 0;
  bool limit_told_ ABSL_GUARDED_BY(pass_mutex_) = false;
  // The observer refused a range: the thread wakes by itself to offer it again.
  std::atomic<bool> refused_{false};
  std::chrono::steady_clock::time_point last_pass_{};
  bool finished_ = false;
  std::thread thread_;
};

}  // namespace runyard::runtime
