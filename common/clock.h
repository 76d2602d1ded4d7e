#pragma once

#include <chrono>
#include <cstdint>

namespace runyard::common {

// Where the control plane and the agent read the time (LevelDB's Env, Envoy's TimeSource):
// the real clock in production, a FakeClock (tests/fakes/fake_clock.h) in tests, which
// move time forward instead of sleeping. Waits on condition variables and gRPC deadlines
// stay in real time; what a Clock decides is when something has expired.
class Clock {
 public:
  virtual ~Clock() = default;

  // Wall-clock milliseconds since the Unix epoch: status history, lease expiry, last seen.
  virtual int64_t NowUnixMs() const = 0;
  // Monotonic time, for intervals (drain timeouts, watchdog, uptime).
  virtual std::chrono::steady_clock::time_point SteadyNow() const = 0;

  // The process's real clock; never null, never destroyed.
  static Clock* Real();
};

// Wall-clock milliseconds since the Unix epoch, read from the real clock. For code that has
// no Clock injected (the CLI's own timings, file stamps); what tests need to move in time
// takes a Clock* instead.
inline int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace runyard::common
