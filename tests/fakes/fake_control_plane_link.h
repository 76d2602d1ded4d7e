#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "agent/control_plane_link.h"
#include "common/status_names.h"
#include "tests/fakes/fake_blob_source.h"

namespace runyard::fakes {

// What runs report through the fake link, by run id, with the server's append rules
// (bytes at an offset, what it has is skipped, a gap is OUT_OF_RANGE). Thread-safe; waits
// are on a condition variable, bounded by `limit` only so a broken test fails, not hangs.
class FakeRunReporter final : public runtime::RunReporter {
 public:
  absl::StatusOr<runyard::v1::UpdateStatusResponse> UpdateStatus(
      const runyard::v1::UpdateStatusRequest& request) override {
    std::lock_guard lock(mutex_);
    statuses_[request.lease().run_id()].push_back(request.status());
    if (common::IsTerminal(request.status())) final_[request.lease().run_id()] = request;
    changed_.notify_all();
    return runyard::v1::UpdateStatusResponse{};
  }

  absl::StatusOr<runyard::v1::AppendResponse> Append(
      const runyard::v1::AppendRequest& request) override {
    std::lock_guard lock(mutex_);
    std::string& file = files_[request.lease().run_id() + "/" + request.path()];
    if (request.truncate()) file.clear();
    if (request.offset() > static_cast<int64_t>(file.size())) return absl::OutOfRangeError("gap");
    const size_t skip = file.size() - static_cast<size_t>(request.offset());
    if (skip < request.data().size()) file.append(request.data().substr(skip));
    runyard::v1::AppendResponse response;
    response.set_committed_size(static_cast<int64_t>(file.size()));
    changed_.notify_all();
    return response;
  }

  // The statuses reported for `run_id`, in order.
  std::vector<runyard::v1::RunStatus> statuses(const std::string& run_id) {
    std::lock_guard lock(mutex_);
    return statuses_[run_id];
  }
  // Run file `path` of `run_id` as the server has it.
  std::string file(const std::string& run_id, const std::string& path) {
    std::lock_guard lock(mutex_);
    return files_[run_id + "/" + path];
  }
  // Waits until `run_id` reported `status`; false after `limit`.
  bool WaitForStatus(const std::string& run_id, runyard::v1::RunStatus status,
                     std::chrono::seconds limit = std::chrono::seconds(30)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      for (runyard::v1::RunStatus seen : statuses_[run_id]) {
        if (seen == status) return true;
      }
      return false;
    });
  }
  // Waits until `run_id` reported a terminal status, and returns that report.
  std::optional<runyard::v1::UpdateStatusRequest> WaitForEnd(
      const std::string& run_id, std::chrono::seconds limit = std::chrono::seconds(30)) {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, limit, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return final_.contains(run_id);
        })) {
      return std::nullopt;
    }
    return final_[run_id];
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::vector<runyard::v1::RunStatus>> statuses_ ABSL_GUARDED_BY(mutex_);
  std::map<std::string, runyard::v1::UpdateStatusRequest> final_ ABSL_GUARDED_BY(mutex_);
  std::map<std::string, std::string> files_ ABSL_GUARDED_BY(mutex_);
};

// The agent's control plane in a test. Register answers what the test scripted, in
// order, then "agent-1" with a 30 s lease. Each poll is a rendezvous: the agent's Wait()
// blocks until the test takes it (NextPoll) and answers it (AnswerPoll / FailPoll), or the
// agent cancels it. Runs report to reporter(); blobs come from blobs(). Thread-safe.
class FakeControlPlaneLink final : public agent::ControlPlaneLink {
 public:
  // How long a test waits for the agent before it fails (never reached when all is well).
  static constexpr std::chrono::seconds kLimit{30};

  explicit FakeControlPlaneLink(std::filesystem::path blob_root) : blobs_(std::move(blob_root)) {}

  // ---- Register

  void ScriptRegister(absl::StatusOr<runyard::v1::RegisterResponse> answer) {
    std::lock_guard lock(mutex_);
    register_answers_.push_back(std::move(answer));
  }
  std::vector<runyard::v1::RegisterRequest> registrations() {
    std::lock_guard lock(mutex_);
    return registrations_;
  }
  bool WaitForRegistrations(size_t count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kLimit, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return registrations_.size() >= count;
    });
  }

  absl::StatusOr<runyard::v1::RegisterResponse> Register(
      const runyard::v1::RegisterRequest& request) override {
    std::lock_guard lock(mutex_);
    registrations_.push_back(request);
    changed_.notify_all();
    if (!register_answers_.empty()) {
      absl::StatusOr<runyard::v1::RegisterResponse> answer = register_answers_.front();
      register_answers_.pop_front();
      return answer;
    }
    runyard::v1::RegisterResponse response;
    response.set_agent_id("agent-1");
    response.set_lease_seconds(30);
    return response;
  }

  // ---- Poll

  // The next poll the agent is waiting on, taken for the test to answer; nothing when the
  // agent sent none within kLimit.
  std::optional<runyard::v1::PollRequest> NextPoll() {
    std::unique_lock lock(mutex_);
    const bool sent = changed_.wait_for(lock, kLimit, [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return waiting_ != nullptr && !waiting_->taken;
    });
    if (!sent) return std::nullopt;
    waiting_->taken = true;
    taken_ = waiting_;
    return waiting_->request;
  }
  // Answers the poll NextPoll took (nothing happens if the agent canceled it meanwhile).
  void AnswerPoll(const runyard::v1::PollResponse& response) { Settle(response); }
  void AnswerPoll() { Settle(runyard::v1::PollResponse{}); }
  void FailPoll(const absl::Status& status) { Settle(status); }

  // Every poll the agent started, answered or not.
  int polls_started() {
    std::lock_guard lock(mutex_);
    return polls_started_;
  }

  std::unique_ptr<agent::PendingPoll> StartPoll(const runyard::v1::PollRequest& request) override {
    std::lock_guard lock(mutex_);
    ++polls_started_;
    auto call = std::make_shared<PollCall>();
    call->request = request;
    return std::make_unique<Pending>(this, std::move(call));
  }

  // ---- runs

  runtime::RunReporter& reporter() override { return reporter_; }
  runtime::BlobSource& blobs() override { return blobs_; }
  int64_t uploaded_bytes() const override { return 0; }

  FakeRunReporter& runs() { return reporter_; }
  FakeBlobSource& blob_source() { return blobs_; }

 private:
  struct PollCall {
    runyard::v1::PollRequest request;
    bool taken = false;     // handed to the test by NextPoll
    bool canceled = false;  // by the agent
    std::optional<absl::StatusOr<runyard::v1::PollResponse>> answer;
  };

  class Pending final : public agent::PendingPoll {
   public:
    Pending(FakeControlPlaneLink* link, std::shared_ptr<PollCall> call)
        : link_(link), call_(std::move(call)) {}
    absl::StatusOr<runyard::v1::PollResponse> Wait() override { return link_->WaitFor(call_); }
    void Cancel() override { link_->Cancel(call_); }

   private:
    FakeControlPlaneLink* link_;
    std::shared_ptr<PollCall> call_;
  };

  absl::StatusOr<runyard::v1::PollResponse> WaitFor(const std::shared_ptr<PollCall>& call) {
    std::unique_lock lock(mutex_);
    if (!call->canceled) {
      waiting_ = call;
      changed_.notify_all();
      changed_.wait(lock, [&] { return call->canceled || call->answer.has_value(); });
      waiting_ = nullptr;
    }
    if (call->answer) return *call->answer;
    return absl::CancelledError("poll canceled by the agent");
  }

  void Cancel(const std::shared_ptr<PollCall>& call) {
    std::lock_guard lock(mutex_);
    if (!call->answer) call->canceled = true;
    changed_.notify_all();
  }

  void Settle(absl::StatusOr<runyard::v1::PollResponse> answer) {
    std::lock_guard lock(mutex_);
    if (taken_ && !taken_->canceled) taken_->answer = std::move(answer);
    taken_ = nullptr;
    changed_.notify_all();
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<absl::StatusOr<runyard::v1::RegisterResponse>> register_answers_
      ABSL_GUARDED_BY(mutex_);
  std::vector<runyard::v1::RegisterRequest> registrations_ ABSL_GUARDED_BY(mutex_);
  std::shared_ptr<PollCall> waiting_ ABSL_GUARDED_BY(mutex_);  // the poll the agent waits on
  std::shared_ptr<PollCall> taken_ ABSL_GUARDED_BY(mutex_);    // the poll the test answers next
  int polls_started_ ABSL_GUARDED_BY(mutex_) = 0;
  FakeRunReporter reporter_;
  FakeBlobSource blobs_;
};

}  // namespace runyard::fakes
