#include "common/clock.h"

namespace runyard::common {
namespace {

class RealClock final : public Clock {
 public:
  int64_t NowUnixMs() const override { return common::NowUnixMs(); }
  std::chrono::steady_clock::time_point SteadyNow() const override {
    return std::chrono::steady_clock::now();
  }
};

}  // namespace

Clock* Clock::Real() {
  static RealClock* const clock = new RealClock();  // never destroyed: used until _Exit
  return clock;
}

}  // namespace runyard::common
