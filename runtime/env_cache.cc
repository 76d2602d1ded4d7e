#include "runtime/env_cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <set>
#include <thread>

#include "common/read_file.h"
#include "absl/strings/str_cat.h"
#include "common/digest.h"
#include "common/ids.h"

namespace runyard::runtime {
namespace fs = std::filesystem;
namespace {

int OpenLockFile(const fs::path& file) {
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  return ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
}

int64_t FolderSize(const fs::path& folder) {
  int64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(folder, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) total += static_cast<int64_t>(it->file_size(ec));
  }
  return total;
}

}  // namespace

EnvironmentCache::Lock::~Lock() {
  if (fd_ >= 0) ::close(fd_);  // closing drops the flock
}

absl::StatusOr<std::unique_ptr<EnvironmentCache::Lock>> EnvironmentCache::Use(const std::string& key) {
  const int fd = OpenLockFile(root_ / "locks" / (key + ".use"));
  if (fd < 0 || ::flock(fd, LOCK_SH) != 0) {
    if (fd >= 0) ::close(fd);
    return absl::InternalError("cannot lock environment " + key);
  }
  return std::make_unique<Lock>(fd);
}

std::optional<fs::path> EnvironmentCache::Find(const std::string& key) {
  std::error_code ec;
  const fs::path link = root_ / key;
  const fs::path target = fs::read_symlink(link, ec);
  if (ec) return std::nullopt;
  const fs::path prefix = target.is_absolute() ? target : root_ / target;
  if (!fs::is_regular_file(prefix / ".runyard" / "size", ec)) return std::nullopt;
  fs::last_write_time(prefix / ".runyard" / "size", fs::file_time_type::clock::now(), ec);  // LRU
  return prefix;
}

absl::StatusOr<std::unique_ptr<EnvironmentCache::Lock>> EnvironmentCache::LockForBuild(
    const std::string& key, CancelToken& cancel, const std::function<void()>& on_wait) {
  const int fd = OpenLockFile(root_ / "locks" / (key + ".build"));
  if (fd < 0) return absl::InternalError("cannot open the build lock of environment " + key);
  bool told = false;
  // Polling a non-blocking flock keeps a waiting run cancelable; builds take seconds to
  // minutes, so a tenth of a second of extra wait does not matter.
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) {
      ::close(fd);
      return absl::InternalError("cannot lock environment " + key);
    }
    if (!told && on_wait) on_wait();
    told = true;
    if (cancel.requested()) {
      ::close(fd);
      return absl::CancelledError("canceled while waiting for environment " + key);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return std::make_unique<Lock>(fd);
}

absl::StatusOr<fs::path> EnvironmentCache::NewBuildFolder(const std::string& key) {
  const fs::path folder = root_ / "store" / (key + "-" + common::RandomHex(4));
  std::error_code ec;
  fs::create_directories(folder / ".runyard", ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", folder.string(), ": ", ec.message()));
  return folder;
}

absl::Status EnvironmentCache::Publish(const std::string& key, const fs::path& folder) {
  {
    std::ofstream size(folder / ".runyard" / "size");
    size << FolderSize(folder) << "\n";
    if (!size) return absl::ResourceExhaustedError("cannot write environment metadata (disk full?)");
  }
  const fs::path temp_link = root_ / (key + ".publishing-" + common::RandomHex(4));
  std::error_code ec;
  fs::create_symlink(fs::relative(folder, root_), temp_link, ec);
  if (!ec) fs::rename(temp_link, root_ / key, ec);
  if (ec) {
    fs::remove(temp_link, ec);
    return absl::InternalError(absl::StrCat("cannot publish environment ", key, ": ", ec.message()));
  }
  return absl::OkStatus();
}

std::vector<EnvironmentCache::Entry> EnvironmentCache::List() {
  std::vector<Entry> entries;
  std::error_code ec;
  for (const auto& item : fs::directory_iterator(root_, ec)) {
    const std::string key = item.path().filename().string();
    if (!item.is_symlink(ec) || !common::IsValidDigest(key)) continue;
    const fs::path target = fs::read_symlink(item.path(), ec);
    Entry entry;
    entry.key = key;
    entry.prefix = target.is_absolute() ? target : root_ / target;
    entry.size = std::atoll(common::ReadFileOrEmpty(entry.prefix / ".runyard" / "size").c_str());
    entry.last_used = fs::last_write_time(entry.prefix / ".runyard" / "size", ec);
    const std::string definition = common::ReadFileOrEmpty(entry.prefix / ".runyard" / "definition.txt");
    entry.summary = definition.substr(0, definition.find('\n'));  // "kind: pip"
    if (entry.summary.rfind("kind: ", 0) == 0) entry.summary.erase(0, 6);
    const int fd = OpenLockFile(root_ / "locks" / (key + ".use"));
    entry.in_use = fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0;
    if (fd >= 0) ::close(fd);
    entries.push_back(std::move(entry));
  }
  return entries;
}

void EnvironmentCache::RemoveUnfinishedBuilds() {
  std::set<fs::path> published;
  for (const auto& entry : List()) published.insert(entry.prefix.lexically_normal());
  std::error_code ec;
  for (const auto& item : fs::directory_iterator(root_ / "store", ec)) {
    if (published.contains(item.path().lexically_normal())) continue;
    const std::string key = item.path().filename().string().substr(0, 64);
    // A build in progress holds its lock; an unpublished folder without one is debris.
    // Look again once the lock is ours: the build may have published it meanwhile.
    const int fd = OpenLockFile(root_ / "locks" / (key + ".build"));
    if (fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) == 0) {
      const fs::path link = fs::read_symlink(root_ / key, ec);
      const bool published_now = !ec && (root_ / link).lexically_normal() == item.path().lexically_normal();
      ec.clear();
      if (!published_now) fs::remove_all(item.path(), ec);
    }
    if (fd >= 0) ::close(fd);
  }
}

int64_t EnvironmentCache::Evict(bool everything) {
  RemoveUnfinishedBuilds();
  std::vector<Entry> entries = List();
  int64_t total = 0;
  for (const auto& entry : entries) total += entry.size;
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.last_used < b.last_used; });
  int64_t freed = 0;
  for (const auto& entry : entries) {
    if (!everything && (quota_bytes_ <= 0 || total - freed <= quota_bytes_)) break;
    // Holding the use lock exclusively means nobody uses it, and nobody can start to
    // until it is unpublished.
    const int fd = OpenLockFile(root_ / "locks" / (entry.key + ".use"));
    if (fd < 0 || ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (fd >= 0) ::close(fd);
      continue;
    }
    std::error_code ec;
    fs::remove(root_ / entry.key, ec);  // unpublish first: atomic
    fs::remove_all(entry.prefix, ec);
    ::close(fd);
    freed += entry.size;
  }
  return freed;
}

int64_t EnvironmentCache::EvictToQuota() { return Evict(false); }
int64_t EnvironmentCache::PruneUnused() { return Evict(true); }

}  // namespace runyard::runtime
