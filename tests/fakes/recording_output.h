#pragma once

#include <sys/types.h>

#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"

namespace runyard::fakes {

// Collects the output a launcher hands to its `on_output` callback (on the launcher's
// thread). `marker`: MarkerSeen() becomes ready the first time the output holds it, so
// another thread can react to it (cancel the run) without polling.
class RecordingOutput {
 public:
  explicit RecordingOutput(std::string marker = "") : marker_(std::move(marker)) {}

  std::function<void(std::string_view)> Callback() {
    return [this](std::string_view bytes) {
      std::lock_guard lock(mutex_);
      text_.append(bytes);
      if (!marker_.empty() && !marker_seen_ && text_.find(marker_) != std::string::npos) Fire();
    };
  }

  std::future<void> MarkerSeen() { return seen_.get_future(); }
  // Makes MarkerSeen() ready even though the marker never came (the run is over), so a
  // thread waiting for it does not wait forever.
  void Release() {
    std::lock_guard lock(mutex_);
    if (!marker_seen_) Fire();
  }

  std::string text() {
    std::lock_guard lock(mutex_);
    return text_;
  }

  // The number printed after "<label> " in the output, e.g. "child 1234"; -1 when none.
  pid_t PidAfter(const std::string& label) {
    const std::string all = text();
    const size_t at = all.find(label + " ");
    if (at == std::string::npos) return -1;
    const size_t start = at + label.size() + 1;
    const size_t end = all.find('\n', start);
    int pid = -1;
    if (!absl::SimpleAtoi(all.substr(start, end - start), &pid)) return -1;
    return pid;
  }

 private:
  void Fire() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    marker_seen_ = true;
    seen_.set_value();
  }

  std::mutex mutex_;
  std::string text_ ABSL_GUARDED_BY(mutex_);
  const std::string marker_;
  bool marker_seen_ ABSL_GUARDED_BY(mutex_) = false;
  std::promise<void> seen_;
};

}  // namespace runyard::fakes
