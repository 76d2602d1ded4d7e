#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/cas_directory.h"

namespace runyard::runtime {

// The node's content-addressed cache of snapshot blobs, with a size quota and LRU
// eviction. Blobs of runs in progress are pinned and never evicted. Last use is kept in
// each blob's mtime, so the order survives an agent restart.
class BlobCache {
 public:
  // quota_bytes 0: no quota (local mode uses the local blob store itself as its cache).
  BlobCache(std::filesystem::path root, int64_t quota_bytes)
      : cas_(std::move(root)), quota_bytes_(quota_bytes) {}

  common::CasDirectory& cas() { return cas_; }

  // Keeps `digests` from eviction while the returned object lives, and marks them used.
  class Pins {
   public:
    Pins(BlobCache* cache, std::vector<std::string> digests);
    ~Pins();
    Pins(const Pins&) = delete;
    Pins& operator=(const Pins&) = delete;

   private:
    BlobCache* cache_;
    std::vector<std::string> digests_;
  };

  struct Entry {
    std::string digest;
    int64_t size = 0;
    std::filesystem::file_time_type last_used;
  };
  std::vector<Entry> List() const;

  // Evicts least recently used, unpinned blobs until the cache fits its quota; returns
  // the bytes freed.
  int64_t EvictToQuota();

 private:
  void Pin(const std::vector<std::string>& digests);
  void Unpin(const std::vector<std::string>& digests);

  common::CasDirectory cas_;
  int64_t quota_bytes_;
  mutable std::mutex mutex_;
  std::map<std::string, int> pins_;
};

}  // namespace runyard::runtime
