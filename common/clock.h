#pragma once

#include <chrono>
#include <cstdint>

namespace runyard::common {

// Wall-clock milliseconds since the Unix epoch, for status history and lease expiry.
inline int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace runyard::common
