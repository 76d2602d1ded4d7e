#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "common/cas_directory.h"
#include "runtime/observer.h"

namespace runyard::fakes {

// The "server" side of snapshots: a CasDirectory holding every blob and manifest the test
// put there; FetchMissing copies the blobs a node cache lacks into it, each checked by
// digest, and fails NotFound for a blob the server does not have. Thread-safe (the runner
// fetches on several threads).
class FakeBlobSource : public runtime::BlobSource {
 public:
  explicit FakeBlobSource(std::filesystem::path root) : server_(std::move(root)) {}

  absl::StatusOr<runtime::FetchStats> FetchMissing(const std::vector<std::string>& digests,
                                                   common::CasDirectory& cache) override {
    std::lock_guard lock(mutex_);
    runtime::FetchStats stats;
    for (const std::string& digest : digests) {
      asked_.push_back(digest);
      if (cache.Has(digest)) continue;
      if (!server_.Has(digest)) return absl::NotFoundError("no blob " + digest + " on the server");
      absl::StatusOr<std::string> copied = cache.PutFile(server_.PathOf(digest));
      if (!copied.ok()) return copied.status();
      if (*copied != digest) return absl::DataLossError("blob " + digest + " hashes to " + *copied);
      ++stats.blobs;
      stats.bytes += static_cast<int64_t>(std::filesystem::file_size(cache.PathOf(digest)));
      fetched_.push_back(digest);
    }
    return stats;
  }

  // Where the test puts blobs and manifests.
  common::CasDirectory& server() { return server_; }
  // Every digest asked for, in order, whether the cache had it or not.
  std::vector<std::string> asked() {
    std::lock_guard lock(mutex_);
    return asked_;
  }
  // The digests copied into a cache, in order.
  std::vector<std::string> fetched() {
    std::lock_guard lock(mutex_);
    return fetched_;
  }

 private:
  common::CasDirectory server_;
  std::mutex mutex_;
  std::vector<std::string> asked_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::string> fetched_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace runyard::fakes
