#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <utility>

namespace runyard::runtime {

// Asked for from any thread (CLI Ctrl-C, a server cancel, an agent shutdown); the run's
// launcher reacts through the callback it subscribed. The reason tells outcomes apart.
class CancelToken {
 public:
  enum class Reason { kNone, kUserCancel, kLeaseLost, kAgentShutdown };

  // Unsubscribes on destruction; after that the callback is never running or called.
  class Subscription {
   public:
    Subscription(CancelToken* token, int id) : token_(token), id_(id) {}
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    ~Subscription() {
      if (token_ == nullptr) return;
      std::lock_guard calling(token_->calling_);
      std::lock_guard lock(token_->mutex_);
      token_->callbacks_.erase(id_);
    }

   private:
    CancelToken* token_;
    int id_;
  };

  void RequestCancel(Reason reason = Reason::kUserCancel) {
    std::lock_guard calling(calling_);
    std::map<int, std::function<void()>> callbacks;
    {
      std::lock_guard lock(mutex_);
      if (reason_ != Reason::kNone) return;
      reason_ = reason;
      callbacks.swap(callbacks_);
    }
    for (auto& [id, callback] : callbacks) callback();
  }

  // Runs `callback` once cancel is requested (at once when it already was).
  [[nodiscard]] Subscription OnCancel(std::function<void()> callback) {
    {
      std::lock_guard lock(mutex_);
      if (reason_ == Reason::kNone) {
        callbacks_.emplace(++next_id_, std::move(callback));
        return Subscription(this, next_id_);
      }
    }
    callback();
    return Subscription(nullptr, 0);
  }

  bool requested() const {
    std::lock_guard lock(mutex_);
    return reason_ != Reason::kNone;
  }
  Reason reason() const {
    std::lock_guard lock(mutex_);
    return reason_;
  }

 private:
  mutable std::mutex mutex_;
  std::mutex calling_;  // held while callbacks run, so unsubscribing waits for them
  Reason reason_ = Reason::kNone;
  int next_id_ = 0;
  std::map<int, std::function<void()>> callbacks_;
};

}  // namespace runyard::runtime
