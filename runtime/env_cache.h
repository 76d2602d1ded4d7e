#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/cancel_token.h"

namespace runyard::runtime {

// Built environments on a node, by definition key:
//   <root>/<key>                 symlink to the published environment (atomic rename)
//   <root>/store/<key>-<random>/ the venv or conda prefix, built where it stays (venvs
//                                cannot move), with .runyard/{definition.txt,packages.txt,size}
//   <root>/locks/<key>.build     held (flock) by the one run building <key>
//   <root>/locks/<key>.use       held shared by every run using <key>: no eviction meanwhile
// flock works across processes, so agents and local runs on one machine share this safely.
class EnvironmentCache {
 public:
  EnvironmentCache(std::filesystem::path root, int64_t quota_bytes)
      : root_(std::move(root)), quota_bytes_(quota_bytes) {}

  // A held file lock; released on destruction.
  class Lock {
   public:
    explicit Lock(int fd) : fd_(fd) {}
    ~Lock();
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

   private:
    int fd_;
  };

  // Marks `key` in use until the returned lock is gone (taken before looking it up).
  absl::StatusOr<std::unique_ptr<Lock>> Use(const std::string& key);
  // The published environment of `key`, marked used now; nothing if not built yet.
  std::optional<std::filesystem::path> Find(const std::string& key);
  // The right to build `key`. Waits while another run builds it (`on_wait` is told once),
  // and gives up with Cancelled when `cancel` is requested.
  absl::StatusOr<std::unique_ptr<Lock>> LockForBuild(const std::string& key, CancelToken& cancel,
                                                     const std::function<void()>& on_wait);
  // A fresh folder to build `key` in (under store/).
  absl::StatusOr<std::filesystem::path> NewBuildFolder(const std::string& key);
  // Records size and metadata, then publishes the folder under `key` by atomic rename.
  absl::Status Publish(const std::string& key, const std::filesystem::path& folder);

  struct Entry {
    std::string key;
    std::filesystem::path prefix;
    int64_t size = 0;
    std::filesystem::file_time_type last_used;
    std::string summary;  // first lines of the definition
    bool in_use = false;
  };
  std::vector<Entry> List();

  // Removes least recently used environments that no run uses until the cache fits its
  // quota (0: no quota), and folders of builds that never finished. Returns bytes freed.
  int64_t EvictToQuota();
  // Removes every environment no run uses. Returns bytes freed.
  int64_t PruneUnused();

  const std::filesystem::path& root() const { return root_; }

 private:
  int64_t Evict(bool everything);
  void RemoveUnfinishedBuilds();

  std::filesystem::path root_;
  int64_t quota_bytes_;
};

}  // namespace runyard::runtime
