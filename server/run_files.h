#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "server/store.h"

namespace runyard::server {

// The files of run history (outputs/, logs/, user_logs/, system_logs/), kept on disk
// under <root>/<run_id>/<path> and listed in the store. Writes are appends at an offset:
// bytes the server already has are skipped, so a retried append is harmless.
class RunFiles {
 public:
  RunFiles(std::filesystem::path root, Store* store) : root_(std::move(root)), store_(store) {}

  // Returns the committed size after the append. A gap (offset past the committed size)
  // is OutOfRange and writes nothing.
  absl::StatusOr<int64_t> Append(const std::string& run_id, const std::string& path,
                                 int64_t offset, std::string_view data, bool truncate);

  // Where a run file lives on disk (after checking the path); it may not exist yet.
  absl::StatusOr<std::filesystem::path> Locate(const std::string& run_id,
                                               const std::string& path) const;

 private:
  std::filesystem::path root_;
  Store* store_;
  std::mutex mutex_;
};

}  // namespace runyard::server
