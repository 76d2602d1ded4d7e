#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <vector>

namespace runyard::runtime {

// Tells when something was written below some folders (inotify on each folder and every
// subfolder made later), so outputs/ and logs/ go out soon after they change instead of at
// the next periodic scan. Where inotify is unavailable (or its watch limit is reached) it
// still waits, and the caller's periodic scan does the work.
class ChangeWatcher {
 public:
  explicit ChangeWatcher(const std::vector<std::filesystem::path>& roots);
  ~ChangeWatcher();
  ChangeWatcher(const ChangeWatcher&) = delete;
  ChangeWatcher& operator=(const ChangeWatcher&) = delete;

  // Waits up to `timeout`; true when something changed, false on timeout or Stop().
  bool WaitForChange(std::chrono::milliseconds timeout);
  // Ends every wait, now and later (from any thread).
  void Stop();
  bool stopped() const;

 private:
  void Watch(const std::filesystem::path& folder);
  void WatchTree(const std::filesystem::path& root);
  bool DrainEvents();  // true when any change was among them

  int inotify_fd_ = -1;
  int stop_fd_ = -1;  // an eventfd: written once by Stop()
  std::map<int, std::filesystem::path> folders_;  // watch descriptor → folder
};

}  // namespace runyard::runtime
