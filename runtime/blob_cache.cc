#include "runtime/blob_cache.h"

#include <algorithm>

#include "common/digest.h"

namespace runyard::runtime {
namespace fs = std::filesystem;

BlobCache::Pins::Pins(BlobCache* cache, std::vector<std::string> digests)
    : cache_(cache), digests_(std::move(digests)) {
  cache_->Pin(digests_);
}

BlobCache::Pins::~Pins() { cache_->Unpin(digests_); }

void BlobCache::Pin(const std::vector<std::string>& digests) {
  std::lock_guard lock(mutex_);
  const auto now = fs::file_time_type::clock::now();
  for (const auto& digest : digests) {
    ++pins_[digest];
    std::error_code ec;
    if (cas_.Has(digest)) fs::last_write_time(cas_.PathOf(digest), now, ec);  // LRU: used now
  }
}

void BlobCache::Unpin(const std::vector<std::string>& digests) {
  std::lock_guard lock(mutex_);
  for (const auto& digest : digests) {
    auto it = pins_.find(digest);
    if (it != pins_.end() && --it->second == 0) pins_.erase(it);
  }
}

std::vector<BlobCache::Entry> BlobCache::List() const {
  std::vector<Entry> entries;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(cas_.root(), ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->path().parent_path().filename() == "tmp") continue;
    const std::string name = it->path().filename().string();
    if (!it->is_regular_file(ec) || !common::IsValidDigest(name)) continue;
    entries.push_back(Entry{name, static_cast<int64_t>(it->file_size(ec)), it->last_write_time(ec)});
  }
  return entries;
}

int64_t BlobCache::EvictToQuota() {
  if (quota_bytes_ <= 0) return 0;
  std::vector<Entry> entries = List();
  int64_t total = 0;
  for (const auto& entry : entries) total += entry.size;
  if (total <= quota_bytes_) return 0;
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.last_used < b.last_used; });
  std::lock_guard lock(mutex_);
  int64_t freed = 0;
  for (const auto& entry : entries) {
    if (total - freed <= quota_bytes_) break;
    if (pins_.contains(entry.digest)) continue;
    std::error_code ec;
    if (fs::remove(cas_.PathOf(entry.digest), ec)) freed += entry.size;
  }
  return freed;
}

}  // namespace runyard::runtime
