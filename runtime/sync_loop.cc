#include "runtime/sync_loop.h"

namespace runyard::runtime {
namespace {

// After a change, wait until the folder is quiet this long (but no longer than the cap)
// before scanning: a burst of writes becomes one scan.
constexpr auto kQuietFor = std::chrono::milliseconds(100);
constexpr auto kDebounceCap = std::chrono::milliseconds(500);

}  // namespace

SyncLoop::SyncLoop(DirectorySync* sync, const std::vector<std::filesystem::path>& watched,
                   std::chrono::milliseconds interval)
    : sync_(sync), watcher_(watched), thread_([this, interval] { Loop(interval); }) {}

SyncLoop::~SyncLoop() { Stop(); }

void SyncLoop::Stop() {
  watcher_.Stop();
  if (thread_.joinable()) thread_.join();
}

void SyncLoop::Loop(std::chrono::milliseconds interval) {
  while (!watcher_.stopped()) {
    if (watcher_.WaitForChange(interval)) {
      const auto cap = std::chrono::steady_clock::now() + kDebounceCap;
      while (std::chrono::steady_clock::now() < cap && watcher_.WaitForChange(kQuietFor)) {
      }
    }
    if (watcher_.stopped()) break;
    sync_->Scan();
  }
}

}  // namespace runyard::runtime
