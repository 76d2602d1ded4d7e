#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "runtime/reporting_observer.h"

namespace runyard::fakes {

// A control plane in memory that holds every call until the test opens its gate, so a
// test can look at the run while its reports are in flight. Appends follow the server's
// rules (bytes at an offset; what it has is skipped). `refusal`, when set, is the answer
// to every call once the gate opens (e.g. FailedPrecondition: the lease is lost);
// RefuseAppendsTo refuses only the appends to one run file.
class GatedReporter : public runtime::RunReporter {
 public:
  absl::StatusOr<runyard::v1::UpdateStatusResponse> UpdateStatus(
      const runyard::v1::UpdateStatusRequest&) override {
    std::unique_lock lock(mutex_);
    if (absl::Status refused = PassGate(lock); !refused.ok()) return refused;
    return runyard::v1::UpdateStatusResponse{};
  }

  absl::StatusOr<runyard::v1::AppendResponse> Append(
      const runyard::v1::AppendRequest& request) override {
    std::unique_lock lock(mutex_);
    if (absl::Status refused = PassGate(lock); !refused.ok()) return refused;
    if (request.path() == refused_path_) return path_refusal_;
    std::string& file = files_[request.path()];
    if (request.truncate()) file.clear();
    if (request.offset() > static_cast<int64_t>(file.size())) return absl::OutOfRangeError("gap");
    const size_t skip = file.size() - static_cast<size_t>(request.offset());
    if (skip < request.data().size()) file.append(request.data().substr(skip));
    runyard::v1::AppendResponse response;
    response.set_committed_size(static_cast<int64_t>(file.size()));
    return response;
  }

  void Open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  void Refuse(absl::Status refusal) {
    std::lock_guard lock(mutex_);
    refusal_ = std::move(refusal);
  }
  // Every append to run file `path` gets `refusal` (e.g. InvalidArgument: refused for good).
  void RefuseAppendsTo(std::string path, absl::Status refusal) {
    std::lock_guard lock(mutex_);
    refused_path_ = std::move(path);
    path_refusal_ = std::move(refusal);
  }
  // True once a call waits at the closed gate.
  bool WaitForHeldCall(std::chrono::milliseconds patience) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, patience, [&] { return held_ > 0; });
  }
  std::string file(const std::string& path) {
    std::lock_guard lock(mutex_);
    return files_[path];
  }

 private:
  absl::Status PassGate(std::unique_lock<std::mutex>& lock) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    ++held_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return open_; });
    --held_;
    return refusal_;
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ ABSL_GUARDED_BY(mutex_) = false;
  int held_ ABSL_GUARDED_BY(mutex_) = 0;
  absl::Status refusal_ ABSL_GUARDED_BY(mutex_);
  std::string refused_path_ ABSL_GUARDED_BY(mutex_);
  absl::Status path_refusal_ ABSL_GUARDED_BY(mutex_);
  std::map<std::string, std::string> files_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace runyard::fakes
