// Tests for agent/observability.h: /healthz and /metrics read the server's silence and the
// agent's uptime from the injected clock, so a FakeClock moves them without waiting.

#include <chrono>

#include "agent/observability.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"

namespace runyard::agent {
namespace {

using ::testing::HasSubstr;

class AgentObservabilityTest : public ::testing::Test {
 protected:
  AgentObservabilityTest() { config_.healthz_server_silence_seconds = 60; }

  AgentGauges Gauges() {
    return AgentGauges{[this] { return contact_; }, [] { return 2; }, [] { return false; },
                       [] { return 1234; }};
  }

  AgentConfig config_;
  runyard::fakes::FakeClock clock_;
  std::chrono::steady_clock::time_point contact_{};  // none yet
};

TEST_F(AgentObservabilityTest, HealthyWhileTheServerAnswersWithinTheThreshold) {
  AgentObservability observability(config_, Gauges(), clock_);
  contact_ = clock_.SteadyNow();
  clock_.Advance(std::chrono::seconds(59));
  const common::HttpResponse health = observability.Health();
  EXPECT_EQ(health.status, 200);
  EXPECT_THAT(health.body, HasSubstr("2 active run(s)"));
}

TEST_F(AgentObservabilityTest, UnhealthyOnceTheServerIsSilentPastTheThreshold) {
  AgentObservability observability(config_, Gauges(), clock_);
  contact_ = clock_.SteadyNow();
  clock_.Advance(std::chrono::seconds(61));
  const common::HttpResponse health = observability.Health();
  EXPECT_EQ(health.status, 503);
  EXPECT_THAT(health.body, HasSubstr("threshold 60 s"));
}

TEST_F(AgentObservabilityTest, BeforeTheFirstAnswerTheGraceRunsFromTheStart) {
  AgentObservability observability(config_, Gauges(), clock_);
  clock_.Advance(std::chrono::seconds(30));
  EXPECT_EQ(observability.Health().status, 200);
  clock_.Advance(std::chrono::seconds(31));
  EXPECT_EQ(observability.Health().status, 503);
}

}  // namespace
}  // namespace runyard::agent
