#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/clock.h"

namespace runyard::server {

// Requests a second per key (an identity's token id), as a token bucket: `rate` tokens a
// second, up to a burst of 2 x rate, full at first. Thread-safe; the keys are spread over
// shards so that concurrent callers rarely share a lock, and buckets idle long enough to be
// full again are forgotten (run tokens come and go).
class RateLimiter {
 public:
  struct Decision {
    bool allowed = true;
    // The first refusal since this key was last allowed: worth recording once, not for
    // every request of a flood.
    bool first_refusal = false;
  };

  // rate_per_second <= 0: no limit.
  explicit RateLimiter(double rate_per_second, common::Clock* clock = common::Clock::Real());

  // Takes one token from `key`'s bucket.
  Decision Take(std::string_view key);

  double rate_per_second() const { return rate_; }
  // Buckets held now (tests).
  size_t BucketCount();

 private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point refilled;
    bool refusing = false;
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Bucket> buckets;
    size_t sweep_at = kFirstSweep;
  };
  static constexpr size_t kShards = 16;
  static constexpr size_t kFirstSweep = 1024;

  // Drops the shard's buckets that are full by now (they behave as a new one would).
  void SweepLocked(Shard& shard, std::chrono::steady_clock::time_point now);
  void Refill(Bucket& bucket, std::chrono::steady_clock::time_point now) const;

  const double rate_;
  const double burst_;
  common::Clock* clock_;
  std::array<Shard, kShards> shards_;
};

}  // namespace runyard::server
