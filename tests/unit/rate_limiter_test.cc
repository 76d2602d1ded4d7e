// Tests for server/rate_limiter.h: a token bucket per key with a burst of twice the rate,
// on a FakeClock (time moves by Advance, never by sleeping).

#include "server/rate_limiter.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"

namespace runyard::server {
namespace {

using std::chrono::milliseconds;

int Allowed(RateLimiter& limiter, const std::string& key, int tries) {
  int allowed = 0;
  for (int i = 0; i < tries; ++i) allowed += limiter.Take(key).allowed ? 1 : 0;
  return allowed;
}

TEST(RateLimiterTest, ANewKeyMayBurstTwiceTheRate) {
  fakes::FakeClock clock;
  RateLimiter limiter(10, &clock);
  EXPECT_EQ(Allowed(limiter, "a", 25), 20);
}

TEST(RateLimiterTest, RefillsAtTheRateUpToTheBurst) {
  fakes::FakeClock clock;
  RateLimiter limiter(10, &clock);
  Allowed(limiter, "a", 20);
  EXPECT_FALSE(limiter.Take("a").allowed);
  clock.Advance(milliseconds(500));  // 5 tokens
  EXPECT_EQ(Allowed(limiter, "a", 10), 5);
  clock.Advance(std::chrono::hours(1));  // full again, not more
  EXPECT_EQ(Allowed(limiter, "a", 30), 20);
}

TEST(RateLimiterTest, KeysHaveBucketsOfTheirOwn) {
  fakes::FakeClock clock;
  RateLimiter limiter(1, &clock);
  EXPECT_EQ(Allowed(limiter, "a", 5), 2);
  EXPECT_EQ(Allowed(limiter, "b", 5), 2);
}

TEST(RateLimiterTest, TellsTheFirstRefusalOfARunOfRefusals) {
  fakes::FakeClock clock;
  RateLimiter limiter(1, &clock);
  Allowed(limiter, "a", 2);
  RateLimiter::Decision first = limiter.Take("a");
  EXPECT_FALSE(first.allowed);
  EXPECT_TRUE(first.first_refusal);
  RateLimiter::Decision again = limiter.Take("a");
  EXPECT_FALSE(again.allowed);
  EXPECT_FALSE(again.first_refusal);
  clock.Advance(milliseconds(1000));
  EXPECT_TRUE(limiter.Take("a").allowed);
  EXPECT_TRUE(limiter.Take("a").first_refusal);
}

TEST(RateLimiterTest, ZeroMeansNoLimit) {
  fakes::FakeClock clock;
  RateLimiter limiter(0, &clock);
  EXPECT_EQ(Allowed(limiter, "a", 10000), 10000);
}

TEST(RateLimiterTest, ForgetsIdleFullBuckets) {
  fakes::FakeClock clock;
  RateLimiter limiter(100, &clock);
  for (int i = 0; i < 20000; ++i) limiter.Take("run-" + std::to_string(i));
  EXPECT_EQ(limiter.BucketCount(), 20000u);  // none is full yet: none is forgotten
  clock.Advance(std::chrono::seconds(10));   // every bucket is full again
  for (int i = 0; i < 20000; ++i) limiter.Take("new-" + std::to_string(i));
  EXPECT_LT(limiter.BucketCount(), 30000u);
}

TEST(RateLimiterTest, ConcurrentCallersShareOneBucketExactly) {
  fakes::FakeClock clock;
  RateLimiter limiter(500, &clock);  // a burst of 1000
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) allowed += limiter.Take("shared").allowed ? 1 : 0;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(allowed.load(), 1000);
}

}  // namespace
}  // namespace runyard::server
