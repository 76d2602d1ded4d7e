#pragma once

#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include "runtime/change_watcher.h"
#include "runtime/file_sync.h"

namespace runyard::runtime {

// Mirrors a run's outputs/ and logs/ while it runs: a scan shortly after something there
// changes (inotify, debounced so a file written in many small pieces goes out in few
// appends), and a scan every `interval` whatever inotify saw (a safety net for changes it
// cannot see). The final scan is the caller's, after Stop().
class SyncLoop {
 public:
  SyncLoop(DirectorySync* sync, const std::vector<std::filesystem::path>& watched,
           std::chrono::milliseconds interval);
  ~SyncLoop();

  void Stop();

 private:
  void Loop(std::chrono::milliseconds interval);

  DirectorySync* sync_;
  ChangeWatcher watcher_;
  std::thread thread_;
};

}  // namespace runyard::runtime
