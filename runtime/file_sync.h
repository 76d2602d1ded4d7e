#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/digest.h"
#include "runtime/observer.h"

namespace runyard::runtime {

// Mirrors folders of the working directory (outputs/, logs/) into run history while the
// run runs. Live scans send what was appended since the last scan; the final scan also
// proves each file still starts with the bytes already sent (by digest), and sends a
// file whole again when it was rewritten in place.
class DirectorySync {
 public:
  // `roots`: folder on disk → prefix in run history ("outputs", "logs").
  // `resend_whole`: nothing is known of what was sent before (a restarted agent finishing
  // a run): every file is sent whole, starting the run file over.
  DirectorySync(std::vector<std::pair<std::filesystem::path, std::string>> roots,
                RunObserver* observer, bool resend_whole = false);

  void Scan(bool final_scan = false);

 private:
  struct Sent {
    int64_t size = 0;
    std::filesystem::file_time_type mtime{};
    std::unique_ptr<common::StreamingSha256> digest = std::make_unique<common::StreamingSha256>();
  };

  void SyncFile(const std::filesystem::path& file, const std::string& history_path,
                bool final_scan);
  void SendRange(const std::filesystem::path& file, const std::string& history_path,
                 Sent& sent, int64_t from, int64_t to, bool truncate);

  std::vector<std::pair<std::filesystem::path, std::string>> roots_;
  RunObserver* observer_;
  bool resend_whole_;
  std::map<std::string, Sent> sent_;
};

}  // namespace runyard::runtime
