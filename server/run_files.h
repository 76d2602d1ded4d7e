#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "server/store.h"

namespace runyard::server {

// The files of run history (outputs/, logs/, user_logs/, system_logs/), kept on disk
// under <root>/<run_id>/<path> and listed in the store. Writes are appends at an offset:
// bytes the server already has are skipped, so a retried append is harmless.
class RunFiles {
 public:
  // `clock` stamps the store's record of each write.
  RunFiles(std::filesystem::path root, Store* store, common::Clock* clock = common::Clock::Real())
      : root_(std::move(root)), store_(store), clock_(clock) {}

  // Returns the committed size after the append. A gap (offset past the committed size)
  // is OutOfRange and writes nothing.
  absl::StatusOr<int64_t> Append(const std::string& run_id, const std::string& path, int64_t offset,
                                 std::string_view data, bool truncate);

  // Where a run file lives on disk (after checking the path); it may not exist yet.
  absl::StatusOr<std::filesystem::path> Locate(const std::string& run_id,
                                               const std::string& path) const;

 private:
  std::filesystem::path root_;
  Store* store_;
  common::Clock* clock_;
  std::mutex mutex_;  // one append at a time: each reads the committed size, then writes after it
};

}  // namespace runyard::server
