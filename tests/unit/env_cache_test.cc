// Tests for runtime/env_cache.h: publishing, finding and listing built environments, the
// build lock (waiting, cancel), and eviction (LRU order, environments in use, debris of
// unfinished builds). Environments are made by hand: a build folder with a few files.
//
// No test sleeps to order events: a waiter's on_wait callback tells when it waits.

#include "runtime/env_cache.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "common/digest.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::runtime {
namespace {

namespace fs = std::filesystem;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

using ::runyard::testutil::ScopedTempDir;

void WriteFile(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << file;
}

std::string Key(const std::string& name) { return common::Sha256Hex(name); }

class EnvCacheTest : public testing::Test {
 protected:
  // A "built" environment of `bytes` bytes of files, published under `key`.
  fs::path Build(EnvironmentCache& cache, const std::string& key, int bytes) {
    absl::StatusOr<fs::path> folder = cache.NewBuildFolder(key);
    EXPECT_TRUE(folder.ok()) << folder.status();
    if (!folder.ok()) return {};
    EXPECT_EQ(folder->parent_path(), cache.root() / "store");
    EXPECT_TRUE(fs::is_directory(*folder / ".runyard"));
    const int half = bytes / 2;
    WriteFile(*folder / "env" / "bin" / "python", std::string(half, 'p'));
    WriteFile(*folder / "env" / "lib" / "site.py", std::string(bytes - half, 's'));
    return *folder;
  }

  fs::path BuildAndPublish(EnvironmentCache& cache, const std::string& key, int bytes) {
    const fs::path folder = Build(cache, key, bytes);
    absl::Status published = cache.Publish(key, folder);
    EXPECT_TRUE(published.ok()) << published;
    return folder;
  }

  // Makes `key` look used `age` ago (the LRU clock is the mtime of .runyard/size).
  void SetLastUsed(const fs::path& prefix, std::chrono::seconds age) {
    fs::last_write_time(prefix / ".runyard" / "size", fs::file_time_type::clock::now() - age);
  }

  std::vector<std::string> ListedKeys(EnvironmentCache& cache) {
    std::vector<std::string> keys;
    for (const auto& entry : cache.List()) keys.push_back(entry.key);
    return keys;
  }

  std::vector<fs::path> StoreFolders(EnvironmentCache& cache) {
    std::vector<fs::path> folders;
    std::error_code ec;
    for (const auto& item : fs::directory_iterator(cache.root() / "store", ec)) folders.push_back(item.path());
    return folders;
  }

  ScopedTempDir dir_;
};

TEST_F(EnvCacheTest, PublishThenFindReturnsThePrefix) {
  EnvironmentCache cache(dir_.path() / "envs", 0);
  const std::string key = Key("a");
  const fs::path folder = BuildAndPublish(cache, key, 1000);

  std::optional<fs::path> found = cache.Find(key);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(fs::canonical(*found), fs::canonical(folder));
  EXPECT_TRUE(fs::is_regular_file(*found / "env" / "bin" / "python"));
  EXPECT_TRUE(fs::is_symlink(cache.root() / key));
  // Nothing of the atomic publish is left lying around.
  for (const auto& item : fs::directory_iterator(cache.root())) {
    EXPECT_EQ(item.path().filename().string().find(".publishing"), std::string::npos) << item.path();
  }
}

TEST_F(EnvCacheTest, FindOfUnknownKeyIsNothing) {
  EnvironmentCache cache(dir_.path() / "envs", 0);
  EXPECT_FALSE(cache.Find(Key("never built")).has_value());
  BuildAndPublish(cache, Key("a"), 10);
  EXPECT_FALSE(cache.Find(Key("never built")).has_value());
}

TEST_F(EnvCacheTest, UnpublishedBuildIsNotFound) {
  EnvironmentCache cache(dir_.path() / "envs", 0);
  Build(cache, Key("a"), 10);
  EXPECT_FALSE(cache.Find(Key("a")).has_value());
  EXPECT_THAT(cache.List(), IsEmpty());
}

TEST_F(EnvCacheTest, ListShowsSizeFromTheFilesWritten) {
  EnvironmentCache cache(dir_.path() / "envs", 0);
  const std::string a = Key("a");
  const std::string b = Key("b");
  const fs::path folder_a = BuildAndPublish(cache, a, 1234);
  WriteFile(folder_a / ".runyard" / "definition.txt", "");  // after Publish: not counted
  const fs::path folder_b = Build(cache, b, 5000);
  WriteFile(folder_b / ".runyard" / "definition.txt", "kind: pip\nbase: /usr/bin/python3.11\n");
  ASSERT_TRUE(cache.Publish(b, folder_b).ok());

  std::vector<EnvironmentCache::Entry> entries = cache.List();
  ASSERT_EQ(entries.size(), 2u);
  std::sort(entries.begin(), entries.end(), [](const auto& x, const auto& y) { return x.size < y.size; });
  EXPECT_EQ(entries[0].key, a);
  EXPECT_EQ(entries[0].size, 1234);
  EXPECT_EQ(fs::canonical(entries[0].prefix), fs::canonical(folder_a));
  EXPECT_FALSE(entries[0].in_use);
  EXPECT_EQ(entries[1].key, b);
  const int64_t definition_bytes = static_cast<int64_t>(fs::file_size(folder_b / ".runyard" / "definition.txt"));
  EXPECT_EQ(entries[1].size, 5000 + definition_bytes);
  EXPECT_EQ(entries[1].summary, "pip");
}

TEST_F(EnvCacheTest, ListMarksEnvironmentsInUse) {
  EnvironmentCache cache(dir_.path() / "envs", 0);
  BuildAndPublish(cache, Key("a"), 10);
  BuildAndPublish(cache, Key("b"), 10);
  absl::StatusOr<std::unique_ptr<EnvironmentCache::Lock>> use = cache.Use(Key("a"));
  ASSERT_TRUE(use.ok()) << use.status();
  for (const auto& entry : cache.List()) EXPECT_EQ(entry.in_use, entry.key == Key("a")) << entry.key;
  use->reset();
  for (const auto& entry : cache.List()) EXPECT_FALSE(entry.in_use) << entry.key;
}

TEST_F(EnvCacheTest, FindMarksTheEnvironmentUsedNow) {
  EnvironmentCache cache(dir_.path() / "envs", 0);
  const fs::path prefix = BuildAndPublish(cache, Key("a"), 10);
  SetLastUsed(prefix, std::chrono::hours(24));
  const auto before = fs::last_write_time(prefix / ".runyard" / "size");
  ASSERT_TRUE(cache.Find(Key("a")).has_value());
  EXPECT_GT(fs::last_write_time(prefix / ".runyard" / "size"), before + std::chrono::hours(23));
}

TEST_F(EnvCacheTest, UseLocksAreShared) {
  EnvironmentCache cache(dir_.path() / "envs", 0);
  absl::StatusOr<std::unique_ptr<EnvironmentCache::Lock>> first = cache.Use(Key("a"));
  ASSERT_TRUE(first.ok()) << first.status();
  // A second run using the same environment does not wait (this would hang otherwise).
  absl::StatusOr<std::unique_ptr<EnvironmentCache::Lock>> second = cache.Use(Key("a"));
  ASSERT_TRUE(second.ok()) << second.status();
}

TEST_F(EnvCacheTest, SecondBuildLockWaitsUntilTheFirstIsReleased) {
  EnvironmentCache cache(dir_.path() / "envs", 0);
  const std::string key = Key("a");
  CancelToken cancel;
  absl::StatusOr<std::unique_ptr<EnvironmentCache::Lock>> first =
      cache.LockForBuild(key, cancel, [] { ADD_FAILURE() << "the first build lock waited"; });
  ASSERT_TRUE(first.ok()) << first.status();

  std::promise<void> waiting;
  std::atomic<int> waits{0};
  std::future<absl::StatusOr<std::unique_ptr<EnvironmentCache::Lock>>> second =
      std::async(std::launch::async, [&] {
        CancelToken own;
        return cache.LockForBuild(key, own, [&] {
          if (waits.fetch_add(1) == 0) waiting.set_value();
        });
      });
  ASSERT_EQ(waiting.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_NE(second.wait_for(std::chrono::milliseconds(0)), std::future_status::ready);

  first->reset();  // the first build is done
  ASSERT_EQ(second.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  absl::StatusOr<std::unique_ptr<EnvironmentCache::Lock>> got = second.get();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(waits.load(), 1) << "on_wait is told once";

  // A build lock of another key never waits for this one.
  absl::StatusOr<std::unique_ptr<EnvironmentCache::Lock>> other =
      cache.LockForBuild(Key("b"), cancel, [] { ADD_FAILURE() << "another key's build lock waited"; });
  ASSERT_TRUE(other.ok()) << other.status();
}

TEST_F(EnvCacheTest, CancelWhileWaitingForTheBuildLockIsCancelled) {
  EnvironmentCache cache(dir_.path() / "envs", 0);
  const std::string key = Key("a");
  CancelToken first_cancel;
  absl::StatusOr<std::unique_ptr<EnvironmentCache::Lock>> first = cache.LockForBuild(key, first_cancel, {});
  ASSERT_TRUE(first.ok()) << first.status();

  CancelToken cancel;
  std::promise<void> waiting;
  std::future<absl::StatusOr<std::unique_ptr<EnvironmentCache::Lock>>> second =
      std::async(std::launch::async, [&] { return cache.LockForBuild(key, cancel, [&] { waiting.set_value(); }); });
  ASSERT_EQ(waiting.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  cancel.RequestCancel();
  ASSERT_EQ(second.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  absl::StatusOr<std::unique_ptr<EnvironmentCache::Lock>> got = second.get();
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kCancelled);

  // The canceled waiter left nothing held: after the first is released, the lock is free.
  first->reset();
  CancelToken fresh;
  absl::StatusOr<std::unique_ptr<EnvironmentCache::Lock>> again =
      cache.LockForBuild(key, fresh, [] { ADD_FAILURE() << "the build lock is still held"; });
  EXPECT_TRUE(again.ok()) << again.status();
}

TEST_F(EnvCacheTest, NewBuildFoldersAreDistinct) {
  EnvironmentCache cache(dir_.path() / "envs", 0);
  absl::StatusOr<fs::path> one = cache.NewBuildFolder(Key("a"));
  absl::StatusOr<fs::path> two = cache.NewBuildFolder(Key("a"));
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_NE(*one, *two);
  EXPECT_EQ(one->filename().string().substr(0, 64), Key("a"));
}

TEST_F(EnvCacheTest, RepublishingAKeyReplacesTheLink) {
  EnvironmentCache cache(dir_.path() / "envs", 0);
  const std::string key = Key("a");
  BuildAndPublish(cache, key, 10);
  const fs::path second = BuildAndPublish(cache, key, 20);
  std::optional<fs::path> found = cache.Find(key);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(fs::canonical(*found), fs::canonical(second));
  EXPECT_EQ(cache.List().size(), 1u);
}

TEST_F(EnvCacheTest, EvictToQuotaRemovesLeastRecentlyUsedFirst) {
  EnvironmentCache cache(dir_.path() / "envs", 2500);
  const fs::path old_prefix = BuildAndPublish(cache, Key("old"), 1000);
  const fs::path middle_prefix = BuildAndPublish(cache, Key("middle"), 1000);
  const fs::path new_prefix = BuildAndPublish(cache, Key("new"), 1000);
  // Published in another order than used.
  SetLastUsed(middle_prefix, std::chrono::hours(3));
  SetLastUsed(old_prefix, std::chrono::hours(5));
  SetLastUsed(new_prefix, std::chrono::hours(1));

  EXPECT_EQ(cache.EvictToQuota(), 1000);
  EXPECT_THAT(ListedKeys(cache), UnorderedElementsAre(Key("middle"), Key("new")));
  EXPECT_FALSE(cache.Find(Key("old")).has_value());
  EXPECT_FALSE(fs::exists(old_prefix));
  EXPECT_FALSE(fs::exists(cache.root() / Key("old")));
  EXPECT_TRUE(fs::exists(middle_prefix));
  EXPECT_TRUE(fs::exists(new_prefix));

  // Fits now: nothing more goes.
  EXPECT_EQ(cache.EvictToQuota(), 0);
  EXPECT_EQ(cache.List().size(), 2u);
}

TEST_F(EnvCacheTest, EvictToQuotaRemovesAsManyAsNeeded) {
  EnvironmentCache cache(dir_.path() / "envs", 1500);
  const fs::path a = BuildAndPublish(cache, Key("a"), 1000);
  const fs::path b = BuildAndPublish(cache, Key("b"), 1000);
  const fs::path c = BuildAndPublish(cache, Key("c"), 1000);
  SetLastUsed(a, std::chrono::hours(1));
  SetLastUsed(b, std::chrono::hours(3));
  SetLastUsed(c, std::chrono::hours(2));
  EXPECT_EQ(cache.EvictToQuota(), 2000);
  EXPECT_THAT(ListedKeys(cache), UnorderedElementsAre(Key("a")));
}

TEST_F(EnvCacheTest, EvictToQuotaNeverRemovesAnEnvironmentInUse) {
  EnvironmentCache cache(dir_.path() / "envs", 2500);
  const fs::path old_prefix = BuildAndPublish(cache, Key("old"), 1000);
  const fs::path middle_prefix = BuildAndPublish(cache, Key("middle"), 1000);
  const fs::path new_prefix = BuildAndPublish(cache, Key("new"), 1000);
  SetLastUsed(old_prefix, std::chrono::hours(5));
  SetLastUsed(middle_prefix, std::chrono::hours(3));
  SetLastUsed(new_prefix, std::chrono::hours(1));

  // The LRU one is in use by a run: the next one goes instead.
  absl::StatusOr<std::unique_ptr<EnvironmentCache::Lock>> use = cache.Use(Key("old"));
  ASSERT_TRUE(use.ok()) << use.status();
  EXPECT_EQ(cache.EvictToQuota(), 1000);
  EXPECT_THAT(ListedKeys(cache), UnorderedElementsAre(Key("old"), Key("new")));
  EXPECT_TRUE(fs::exists(old_prefix / "env" / "bin" / "python"));
  EXPECT_TRUE(cache.Find(Key("old")).has_value());
}

TEST_F(EnvCacheTest, EvictToQuotaKeepsEverythingInUseEvenOverQuota) {
  EnvironmentCache cache(dir_.path() / "envs", 100);
  BuildAndPublish(cache, Key("a"), 1000);
  BuildAndPublish(cache, Key("b"), 1000);
  absl::StatusOr<std::unique_ptr<EnvironmentCache::Lock>> use_a = cache.Use(Key("a"));
  absl::StatusOr<std::unique_ptr<EnvironmentCache::Lock>> use_b = cache.Use(Key("b"));
  ASSERT_TRUE(use_a.ok() && use_b.ok());
  EXPECT_EQ(cache.EvictToQuota(), 0);
  EXPECT_EQ(cache.List().size(), 2u);
}

TEST_F(EnvCacheTest, EvictToQuotaRemovesUnfinishedBuildsWhoseBuildLockIsFree) {
  EnvironmentCache cache(dir_.path() / "envs", 1 << 30);  // far from the quota
  const fs::path published = BuildAndPublish(cache, Key("published"), 100);
  const fs::path abandoned = Build(cache, Key("abandoned"), 100);  // its builder died
  CancelToken cancel;
  absl::StatusOr<std::unique_ptr<EnvironmentCache::Lock>> building = cache.LockForBuild(Key("building"), cancel, {});
  ASSERT_TRUE(building.ok()) << building.status();
  const fs::path in_progress = Build(cache, Key("building"), 100);

  cache.EvictToQuota();
  EXPECT_FALSE(fs::exists(abandoned));
  EXPECT_TRUE(fs::exists(in_progress / "env" / "bin" / "python"));
  EXPECT_TRUE(fs::exists(published / "env" / "bin" / "python"));
  EXPECT_TRUE(cache.Find(Key("published")).has_value());

  // Once that build is over (without publishing), its folder is debris too.
  building->reset();
  cache.EvictToQuota();
  EXPECT_FALSE(fs::exists(in_progress));
  EXPECT_EQ(StoreFolders(cache).size(), 1u);
}

TEST_F(EnvCacheTest, QuotaZeroNeverEvicts) {
  EnvironmentCache cache(dir_.path() / "envs", 0);
  const fs::path a = BuildAndPublish(cache, Key("a"), 100000);
  const fs::path b = BuildAndPublish(cache, Key("b"), 100000);
  SetLastUsed(a, std::chrono::hours(24 * 365));
  EXPECT_EQ(cache.EvictToQuota(), 0);
  EXPECT_THAT(ListedKeys(cache), UnorderedElementsAre(Key("a"), Key("b")));
  EXPECT_TRUE(fs::exists(a));
  EXPECT_TRUE(fs::exists(b));
}

TEST_F(EnvCacheTest, PruneUnusedRemovesEverythingNotInUse) {
  EnvironmentCache cache(dir_.path() / "envs", 0);
  const fs::path a = BuildAndPublish(cache, Key("a"), 100);
  const fs::path b = BuildAndPublish(cache, Key("b"), 200);
  const fs::path c = BuildAndPublish(cache, Key("c"), 400);
  const fs::path debris = Build(cache, Key("d"), 50);
  absl::StatusOr<std::unique_ptr<EnvironmentCache::Lock>> use = cache.Use(Key("b"));
  ASSERT_TRUE(use.ok()) << use.status();

  const int64_t freed = cache.PruneUnused();
  EXPECT_GE(freed, 500);  // a and c (the debris may count too)
  EXPECT_LE(freed, 550);
  EXPECT_THAT(ListedKeys(cache), UnorderedElementsAre(Key("b")));
  EXPECT_FALSE(fs::exists(a));
  EXPECT_FALSE(fs::exists(c));
  EXPECT_FALSE(fs::exists(debris));
  EXPECT_TRUE(fs::exists(b / "env" / "bin" / "python"));

  use->reset();
  EXPECT_EQ(cache.PruneUnused(), 200);
  EXPECT_THAT(cache.List(), IsEmpty());
  EXPECT_THAT(StoreFolders(cache), IsEmpty());
}

TEST_F(EnvCacheTest, EmptyOrMissingRootIsHarmless) {
  EnvironmentCache cache(dir_.path() / "does-not-exist-yet", 100);
  EXPECT_THAT(cache.List(), IsEmpty());
  EXPECT_EQ(cache.EvictToQuota(), 0);
  EXPECT_EQ(cache.PruneUnused(), 0);
  EXPECT_FALSE(cache.Find(Key("a")).has_value());
}

}  // namespace
}  // namespace runyard::runtime
