#pragma once

#include <algorithm>
#include <chrono>

namespace runyard::agent {

// How long the agent waits before registering again with a server that did not answer:
// 200 ms, then twice as long after each failure, up to 5 s.
class RegisterBackoff {
 public:
  std::chrono::milliseconds Next() {
    const std::chrono::milliseconds delay = next_;
    next_ = std::min(next_ * 2, kMax);
    return delay;
  }

 private:
  static constexpr std::chrono::milliseconds kMax{5000};
  std::chrono::milliseconds next_{200};
};

}  // namespace runyard::agent
