#include "runtime/change_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cstdint>

namespace runyard::runtime {
namespace fs = std::filesystem;
namespace {

constexpr uint32_t kEvents = IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_ATTRIB;

}  // namespace

ChangeWatcher::ChangeWatcher(const std::vector<fs::path>& roots) {
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  inotify_fd_ = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (inotify_fd_ < 0) return;
  for (const fs::path& root : roots) WatchTree(root);
}

ChangeWatcher::~ChangeWatcher() {
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

void ChangeWatcher::Watch(const fs::path& folder) {
  const int wd = ::inotify_add_watch(inotify_fd_, folder.c_str(), kEvents | IN_ONLYDIR | IN_DONT_FOLLOW);
  if (wd >= 0) folders_[wd] = folder;
}

void ChangeWatcher::WatchTree(const fs::path& root) {
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(root, ec))) return;
  Watch(root);
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) Watch(it->path());
  }
}

bool ChangeWatcher::DrainEvents() {
  bool changed = false;
  alignas(inotify_event) char buffer[16384];
  while (true) {
    const ssize_t n = ::read(inotify_fd_, buffer, sizeof buffer);
    if (n <= 0) break;
    for (ssize_t at = 0; at < n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(buffer + at);
      at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      changed = true;
      if (event->mask & IN_IGNORED) folders_.erase(event->wd);
      // A new subfolder: watch it and what may already be in it.
      if ((event->mask & (IN_CREATE | IN_MOVED_TO)) && (event->mask & IN_ISDIR) && event->len > 0) {
        auto folder = folders_.find(event->wd);
        if (folder != folders_.end()) WatchTree(folder->second / event->name);
      }
    }
  }
  return changed;
}

bool ChangeWatcher::WaitForChange(std::chrono::milliseconds timeout) {
  pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {inotify_fd_, POLLIN, 0}};
  const int count = inotify_fd_ >= 0 ? 2 : 1;
  if (::poll(fds, count, static_cast<int>(timeout.count())) <= 0) return false;
  if (fds[0].revents & POLLIN) return false;
  return count == 2 && (fds[1].revents & POLLIN) && DrainEvents();
}

void ChangeWatcher::Stop() {
  const uint64_t one = 1;
  if (stop_fd_ >= 0) (void)!::write(stop_fd_, &one, sizeof one);
}

bool ChangeWatcher::stopped() const {
  pollfd fd{stop_fd_, POLLIN, 0};
  return ::poll(&fd, 1, 0) == 1;
}

}  // namespace runyard::runtime
