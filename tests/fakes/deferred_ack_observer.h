#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "tests/fakes/recording_observer.h"

namespace runyard::fakes {

// A RecordingObserver whose acknowledgements wait for the test: WhenAcknowledged keeps the
// callback until Acknowledge() (or AcknowledgeInReverse()) runs it, as a control plane
// that answers later would. It also keeps the (offset, length) of every OnFileRange it
// took, and can refuse some (RefuseRanges).
class DeferredAckObserver : public RecordingObserver {
 public:
  struct Range {
    std::string path;
    int64_t offset;
    int64_t length;
  };

  bool OnFileRange(const std::string& path, const std::filesystem::path& source, int64_t offset,
                   int64_t length) override {
    {
      std::lock_guard lock(mutex_);
      if (refuse_ranges_ > 0) {  // as a spool that cannot be written
        --refuse_ranges_;
        ++refused_;
        return false;
      }
      ranges_.push_back({path, offset, length});
    }
    return RecordingObserver::OnFileRange(path, source, offset, length);
  }

  // The next `count` OnFileRange calls fail (nothing taken), as when the spool's disk is full.
  void RefuseRanges(int count) {
    std::lock_guard lock(mutex_);
    refuse_ranges_ = count;
  }
  int refused() {
    std::lock_guard lock(mutex_);
    return refused_;
  }

  void WhenAcknowledged(std::function<void()> acknowledged) override {
    std::lock_guard lock(mutex_);
    pending_.push_back(std::move(acknowledged));
  }

  // Runs every kept callback, oldest first; how many there were.
  int Acknowledge() { return RunPending(/*reverse=*/false); }
  // The same, newest first (acknowledgements that arrive out of order).
  int AcknowledgeInReverse() { return RunPending(/*reverse=*/true); }

  int pending() {
    std::lock_guard lock(mutex_);
    return static_cast<int>(pending_.size());
  }
  std::vector<Range> ranges() {
    std::lock_guard lock(mutex_);
    return ranges_;
  }

 private:
  int RunPending(bool reverse) {
    std::vector<std::function<void()>> due;
    {
      std::lock_guard lock(mutex_);
      due.swap(pending_);
    }
    if (reverse) std::reverse(due.begin(), due.end());
    for (const auto& callback : due) callback();
    return static_cast<int>(due.size());
  }

  std::mutex mutex_;
  std::vector<std::function<void()>> pending_ ABSL_GUARDED_BY(mutex_);
  std::vector<Range> ranges_ ABSL_GUARDED_BY(mutex_);
  int refuse_ranges_ ABSL_GUARDED_BY(mutex_) = 0;
  int refused_ ABSL_GUARDED_BY(mutex_) = 0;
};

}  // namespace runyard::fakes
