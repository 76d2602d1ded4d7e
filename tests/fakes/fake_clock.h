#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "common/clock.h"

namespace runyard::fakes {

// A clock that stands still until the test moves it: lease expiry, NotResponding and drain
// deadlines are tested by Advance() instead of waiting. Thread-safe.
class FakeClock final : public common::Clock {
 public:
  explicit FakeClock(int64_t start_unix_ms = 1'700'000'000'000) : now_ms_(start_unix_ms) {}

  int64_t NowUnixMs() const override { return now_ms_.load(); }
  std::chrono::steady_clock::time_point SteadyNow() const override {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(now_ms_.load()));
  }

  void Advance(std::chrono::milliseconds by) { now_ms_ += by.count(); }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace runyard::fakes
