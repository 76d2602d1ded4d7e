#include "server/rate_limiter.h"

#include <algorithm>
#include <functional>
#include <iterator>

namespace runyard::server {

RateLimiter::RateLimiter(double rate_per_second, common::Clock* clock)
    : rate_(rate_per_second), burst_(std::max(1.0, 2 * rate_per_second)), clock_(clock) {}

void RateLimiter::Refill(Bucket& bucket, std::chrono::steady_clock::time_point now) const {
  if (now <= bucket.refilled) return;  // a clock that stood still or went back adds nothing
  const double seconds = std::chrono::duration<double>(now - bucket.refilled).count();
  bucket.tokens = std::min(burst_, bucket.tokens + seconds * rate_);
  bucket.refilled = now;
}

RateLimiter::Decision RateLimiter::Take(std::string_view key) {
  if (rate_ <= 0) return {};
  const auto now = clock_->SteadyNow();
  Shard& shard = shards_[std::hash<std::string_view>{}(key) % kShards];
  std::lock_guard lock(shard.mutex);
  auto [it, inserted] = shard.buckets.try_emplace(std::string(key));
  Bucket& bucket = it->second;
  if (inserted) {
    bucket.tokens = burst_;
    bucket.refilled = now;
  } else {
    Refill(bucket, now);
  }
  Decision decision;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    bucket.refusing = false;
  } else {
    decision.allowed = false;
    decision.first_refusal = !bucket.refusing;
    bucket.refusing = true;
  }
  if (inserted && shard.buckets.size() >= shard.sweep_at) SweepLocked(shard, now);
  return decision;
}

void RateLimiter::SweepLocked(Shard& shard, std::chrono::steady_clock::time_point now) {
  for (auto it = shard.buckets.begin(); it != shard.buckets.end();) {
    Refill(it->second, now);
    it = it->second.tokens >= burst_ ? shard.buckets.erase(it) : std::next(it);
  }
  // Sweeping again only once the map has doubled keeps the cost per request constant.
  shard.sweep_at = std::max(kFirstSweep, 2 * shard.buckets.size());
}

size_t RateLimiter::BucketCount() {
  size_t count = 0;
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    count += shard.buckets.size();
  }
  return count;
}

}  // namespace runyard::server
