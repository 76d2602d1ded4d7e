#pragma once

#include <algorithm>
#include <cstdint>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "runtime/observer.h"

namespace runyard::fakes {

// A RunObserver that records everything a run reports: its statuses, each run file as
// rebuilt from the bytes at their offsets, and its outcome. Thread-safe (the launcher,
// the sync loop and the runner all report). `log_marker`: MarkerSeen() becomes ready
// the first time user_logs/std_log.txt holds it, so a test can react to the script
// without polling.
class RecordingObserver : public runtime::RunObserver {
 public:
  explicit RecordingObserver(std::string log_marker = "") : log_marker_(std::move(log_marker)) {}

  void OnStatus(runyard::v1::RunStatus status) override {
    std::lock_guard lock(mutex_);
    statuses_.push_back(status);
  }

  void OnFileBytes(const std::string& path, int64_t offset, std::string_view data,
                   bool truncate) override {
    std::lock_guard lock(mutex_);
    if (finished_count_ > 0) bytes_after_finish_ = true;
    std::string& file = files_[path];
    if (truncate) file.clear();
    if (static_cast<int64_t>(file.size()) != offset) {
      bad_offsets_.push_back(path + " @" + std::to_string(offset) + " (have " +
                             std::to_string(file.size()) + ")");
    }
    file.resize(static_cast<size_t>(std::max<int64_t>(offset, 0)));
    file.append(data);
    if (!log_marker_.empty() && !marker_seen_ && path == "user_logs/std_log.txt" &&
        file.find(log_marker_) != std::string::npos) {
      marker_seen_ = true;
      marker_.set_value();
    }
  }

  void OnFinished(const runtime::RunOutcome& outcome) override {
    std::lock_guard lock(mutex_);
    ++finished_count_;
    outcome_ = outcome;
  }

  std::future<void> MarkerSeen() { return marker_.get_future(); }

  std::vector<runyard::v1::RunStatus> statuses() {
    std::lock_guard lock(mutex_);
    return statuses_;
  }
  // The content of a run-history file as rebuilt from the reported bytes.
  std::string file(const std::string& path) {
    std::lock_guard lock(mutex_);
    auto found = files_.find(path);
    return found == files_.end() ? "<never reported>" : found->second;
  }
  int finished_count() {
    std::lock_guard lock(mutex_);
    return finished_count_;
  }
  runtime::RunOutcome outcome() {
    std::lock_guard lock(mutex_);
    return outcome_;
  }
  // Bytes reported after the terminal outcome: a run must report every byte first.
  bool bytes_after_finish() {
    std::lock_guard lock(mutex_);
    return bytes_after_finish_;
  }
  // Bytes reported at an offset other than the end of what the file had.
  std::vector<std::string> bad_offsets() {
    std::lock_guard lock(mutex_);
    return bad_offsets_;
  }

 private:
  std::mutex mutex_;
  std::vector<runyard::v1::RunStatus> statuses_ ABSL_GUARDED_BY(mutex_);
  std::map<std::string, std::string> files_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::string> bad_offsets_ ABSL_GUARDED_BY(mutex_);
  int finished_count_ ABSL_GUARDED_BY(mutex_) = 0;
  runtime::RunOutcome outcome_ ABSL_GUARDED_BY(mutex_);
  bool bytes_after_finish_ ABSL_GUARDED_BY(mutex_) = false;
  const std::string log_marker_;
  bool marker_seen_ ABSL_GUARDED_BY(mutex_) = false;
  std::promise<void> marker_;
};

}  // namespace runyard::fakes
