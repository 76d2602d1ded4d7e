#pragma once

#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include "runtime/change_watcher.h"

namespace runyard::runtime {

// Calls `then` once, on its own thread, as soon as `file` exists (inotify on its folder,
// and a look every 200 ms whatever inotify says). Stop() ends the wait, and still calls
// `then` (on the caller's thread) if the file exists by then: what the file announces
// is never lost to a race with the stop. `then` has run, or never will, once Stop returns.
class WhenFileAppears {
 public:
  WhenFileAppears(std::filesystem::path file, std::function<void()> then);
  ~WhenFileAppears();
  WhenFileAppears(const WhenFileAppears&) = delete;
  WhenFileAppears& operator=(const WhenFileAppears&) = delete;

  void Stop();

 private:
  void CallIfThere();

  const std::filesystem::path file_;
  const std::function<void()> then_;
  std::mutex mutex_;
  bool called_ = false;
  ChangeWatcher watcher_;
  std::thread thread_;
};

}  // namespace runyard::runtime
