// Tests for runtime/blob_cache.h (the node's blob cache: quota, LRU eviction by mtime,
// pins) and common/cas_directory.h's resumable writers.

#include "runtime/blob_cache.h"

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/cas_directory.h"
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

std::string ReadFile(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Regular files anywhere under `root` (blobs and partials alike).
int CountFiles(const fs::path& root) {
  int count = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file()) ++count;
  }
  return count;
}

class BlobCacheTest : public ::testing::Test {
 protected:
  fs::path root() const { return tmp_.path() / "cache"; }

  std::unique_ptr<BlobCache> Cache(int64_t quota) { return std::make_unique<BlobCache>(root(), quota); }

  // Stores `size` bytes of `fill` and marks the blob last used `minutes_ago`.
  std::string Blob(BlobCache& cache, char fill, int64_t size, int minutes_ago) {
    absl::StatusOr<std::string> digest = cache.cas().Put(std::string(static_cast<size_t>(size), fill));
    EXPECT_TRUE(digest.ok()) << digest.status();
    SetLastUsed(cache, digest.value_or(""), minutes_ago);
    return digest.value_or("");
  }

  void SetLastUsed(BlobCache& cache, const std::string& digest, int minutes_ago) {
    fs::last_write_time(cache.cas().PathOf(digest), base_ - std::chrono::minutes(minutes_ago));
  }

  ScopedTempDir tmp_;
  const fs::file_time_type base_ =
      std::chrono::floor<std::chrono::seconds>(fs::file_time_type::clock::now()) - std::chrono::hours(24);
};

TEST_F(BlobCacheTest, ListShowsEveryBlobWithSizeAndLastUse) {
  auto cache = Cache(0);
  const std::string a = Blob(*cache, 'a', 10, 30);
  const std::string b = Blob(*cache, 'b', 20, 10);
  std::vector<BlobCache::Entry> entries = cache->List();
  ASSERT_EQ(entries.size(), 2u);
  for (const auto& entry : entries) {
    if (entry.digest == a) {
      EXPECT_EQ(entry.size, 10);
      EXPECT_EQ(entry.last_used, base_ - std::chrono::minutes(30));
    } else {
      EXPECT_EQ(entry.digest, b);
      EXPECT_EQ(entry.size, 20);
      EXPECT_EQ(entry.last_used, base_ - std::chrono::minutes(10));
    }
  }
}

TEST_F(BlobCacheTest, ListLeavesOutPartialsAndStrangers) {
  auto cache = Cache(0);
  const std::string a = Blob(*cache, 'a', 10, 0);
  const std::string partial = common::Sha256Hex("partial");
  {
    auto writer = cache->cas().StartWrite(partial, /*resumable=*/true);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append("part").ok());
  }
  std::ofstream(root() / "README") << "not a blob";
  std::vector<BlobCache::Entry> entries = cache->List();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].digest, a);
}

TEST_F(BlobCacheTest, EvictsLeastRecentlyUsedFirst) {
  auto cache = Cache(250);
  const std::string oldest = Blob(*cache, 'a', 100, 30);
  const std::string newest = Blob(*cache, 'b', 100, 10);
  const std::string middle = Blob(*cache, 'c', 100, 20);
  EXPECT_EQ(cache->EvictToQuota(), 100);
  EXPECT_FALSE(cache->cas().Has(oldest));
  EXPECT_TRUE(cache->cas().Has(middle));
  EXPECT_TRUE(cache->cas().Has(newest));
}

TEST_F(BlobCacheTest, EvictsAsManyAsNeededInLruOrder) {
  auto cache = Cache(150);
  const std::string oldest = Blob(*cache, 'a', 100, 30);
  const std::string newest = Blob(*cache, 'b', 100, 10);
  const std::string middle = Blob(*cache, 'c', 100, 20);
  EXPECT_EQ(cache->EvictToQuota(), 200);
  EXPECT_FALSE(cache->cas().Has(oldest));
  EXPECT_FALSE(cache->cas().Has(middle));
  EXPECT_TRUE(cache->cas().Has(newest));
}

TEST_F(BlobCacheTest, RecentUseChangesTheOrder) {
  auto cache = Cache(250);
  const std::string a = Blob(*cache, 'a', 100, 30);
  const std::string b = Blob(*cache, 'b', 100, 20);
  const std::string c = Blob(*cache, 'c', 100, 10);
  SetLastUsed(*cache, a, 1);  // used again lately
  EXPECT_EQ(cache->EvictToQuota(), 100);
  EXPECT_TRUE(cache->cas().Has(a));
  EXPECT_FALSE(cache->cas().Has(b));
  EXPECT_TRUE(cache->cas().Has(c));
}

TEST_F(BlobCacheTest, FreesNothingUnderOrAtTheQuota) {
  auto cache = Cache(300);
  const std::string a = Blob(*cache, 'a', 100, 30);
  const std::string b = Blob(*cache, 'b', 100, 20);
  EXPECT_EQ(cache->EvictToQuota(), 0);
  const std::string c = Blob(*cache, 'c', 100, 10);  // exactly at the quota
  EXPECT_EQ(cache->EvictToQuota(), 0);
  EXPECT_TRUE(cache->cas().Has(a));
  EXPECT_TRUE(cache->cas().Has(b));
  EXPECT_TRUE(cache->cas().Has(c));
}

TEST_F(BlobCacheTest, QuotaZeroMeansUnlimited) {
  auto cache = Cache(0);
  const std::string a = Blob(*cache, 'a', 100'000, 300);
  const std::string b = Blob(*cache, 'b', 100'000, 200);
  EXPECT_EQ(cache->EvictToQuota(), 0);
  EXPECT_TRUE(cache->cas().Has(a));
  EXPECT_TRUE(cache->cas().Has(b));
}

TEST_F(BlobCacheTest, EmptyCacheEvictsNothing) {
  auto cache = Cache(1);
  EXPECT_EQ(cache->EvictToQuota(), 0);
  EXPECT_THAT(cache->List(), IsEmpty());
}

TEST_F(BlobCacheTest, NeverEvictsPinnedBlobs) {
  auto cache = Cache(1);  // every blob is over the quota
  const std::string pinned = Blob(*cache, 'a', 100, 0);
  const std::string other = Blob(*cache, 'b', 100, 0);
  {
    BlobCache::Pins pins(cache.get(), {pinned});
    SetLastUsed(*cache, pinned, 60);  // the oldest of all, still kept
    SetLastUsed(*cache, other, 30);
    EXPECT_EQ(cache->EvictToQuota(), 100);
    EXPECT_TRUE(cache->cas().Has(pinned));
    EXPECT_FALSE(cache->cas().Has(other));
    EXPECT_EQ(cache->EvictToQuota(), 0);  // nothing evictable left
    EXPECT_TRUE(cache->cas().Has(pinned));
  }
  EXPECT_EQ(cache->EvictToQuota(), 100);  // unpinned now
  EXPECT_FALSE(cache->cas().Has(pinned));
}

TEST_F(BlobCacheTest, PinsCountEachHolder) {
  auto cache = Cache(1);
  const std::string shared = Blob(*cache, 'a', 100, 0);
  auto first = std::make_unique<BlobCache::Pins>(cache.get(), std::vector<std::string>{shared});
  auto second = std::make_unique<BlobCache::Pins>(cache.get(), std::vector<std::string>{shared});
  first.reset();
  EXPECT_EQ(cache->EvictToQuota(), 0);  // the second run still holds it
  EXPECT_TRUE(cache->cas().Has(shared));
  second.reset();
  EXPECT_EQ(cache->EvictToQuota(), 100);
}

TEST_F(BlobCacheTest, SameDigestTwiceInOnePinsIsReleasedTogether) {
  auto cache = Cache(1);
  const std::string blob = Blob(*cache, 'a', 100, 0);
  {
    BlobCache::Pins pins(cache.get(), {blob, blob});
    EXPECT_EQ(cache->EvictToQuota(), 0);
  }
  EXPECT_EQ(cache->EvictToQuota(), 100);
}

TEST_F(BlobCacheTest, PinningMarksTheBlobsUsedNow) {
  auto cache = Cache(250);
  const std::string a = Blob(*cache, 'a', 100, 30);
  const std::string b = Blob(*cache, 'b', 100, 20);
  const std::string c = Blob(*cache, 'c', 100, 10);
  { BlobCache::Pins pins(cache.get(), {a}); }  // a run used it and finished
  EXPECT_GT(fs::last_write_time(cache->cas().PathOf(a)), base_);
  EXPECT_EQ(cache->EvictToQuota(), 100);
  EXPECT_TRUE(cache->cas().Has(a));
  EXPECT_FALSE(cache->cas().Has(b));
  EXPECT_TRUE(cache->cas().Has(c));
}

TEST_F(BlobCacheTest, PinningABlobNotInTheCacheIsHarmless) {
  auto cache = Cache(1);
  const std::string absent = common::Sha256Hex("absent");
  BlobCache::Pins pins(cache.get(), {absent});
  EXPECT_FALSE(cache->cas().Has(absent));
  EXPECT_FALSE(fs::exists(cache->cas().PathOf(absent)));
  // Fetched while pinned: kept.
  ASSERT_TRUE(cache->cas().Put("absent").ok());
  EXPECT_EQ(cache->EvictToQuota(), 0);
  EXPECT_TRUE(cache->cas().Has(absent));
}

TEST_F(BlobCacheTest, LastUseSurvivesARestart) {
  {
    auto cache = Cache(250);
    Blob(*cache, 'a', 100, 10);
    Blob(*cache, 'b', 100, 30);
    Blob(*cache, 'c', 100, 20);
  }
  auto restarted = Cache(250);
  EXPECT_EQ(restarted->EvictToQuota(), 100);
  EXPECT_FALSE(restarted->cas().Has(common::Sha256Hex(std::string(100, 'b'))));
}

TEST_F(BlobCacheTest, PartialWritesDoNotCountNorGetEvicted) {
  auto cache = Cache(150);
  const std::string a = Blob(*cache, 'a', 100, 10);
  const std::string partial = common::Sha256Hex(std::string(1000, 'p'));
  {
    auto writer = cache->cas().StartWrite(partial, /*resumable=*/true);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(std::string(900, 'p')).ok());
  }
  EXPECT_EQ(cache->EvictToQuota(), 0);
  EXPECT_TRUE(cache->cas().Has(a));
  EXPECT_EQ(cache->cas().PartialSize(partial), 900);
}

// ------------------------------------------------------------------ CasDirectory writers

class CasDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(content_.size(), 2000u); }

  ScopedTempDir tmp_;
  common::CasDirectory cas_{tmp_.path() / "cas"};
  const std::string content_ = std::string(1000, 'x') + std::string(1000, 'y') + "tail";
  const std::string digest_ = common::Sha256Hex(content_);
};

TEST_F(CasDirectoryTest, ResumableWriteKeepsItsPartialOnDestruction) {
  {
    auto writer = cas_.StartWrite(digest_, /*resumable=*/true);
    ASSERT_TRUE(writer.ok()) << writer.status();
    EXPECT_EQ((*writer)->offset(), 0);
    ASSERT_TRUE((*writer)->Append(content_.substr(0, 700)).ok());
    ASSERT_TRUE((*writer)->Append(content_.substr(700, 300)).ok());
    EXPECT_EQ((*writer)->offset(), 1000);
  }  // the connection broke off
  EXPECT_EQ(cas_.PartialSize(digest_), 1000);
  EXPECT_FALSE(cas_.Has(digest_));
  EXPECT_FALSE(fs::exists(cas_.PathOf(digest_)));
}

TEST_F(CasDirectoryTest, SecondResumableWriteContinuesFromTheOffsetAndCommitVerifiesTheWhole) {
  {
    auto writer = cas_.StartWrite(digest_, /*resumable=*/true);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(content_.substr(0, 1000)).ok());
  }
  auto writer = cas_.StartWrite(digest_, /*resumable=*/true);
  ASSERT_TRUE(writer.ok()) << writer.status();
  EXPECT_EQ((*writer)->offset(), 1000);
  ASSERT_TRUE((*writer)->Append(content_.substr(1000)).ok());
  EXPECT_EQ((*writer)->offset(), static_cast<int64_t>(content_.size()));
  ASSERT_TRUE((*writer)->Commit().ok());
  EXPECT_TRUE(cas_.Has(digest_));
  EXPECT_EQ(ReadFile(cas_.PathOf(digest_)), content_);
  EXPECT_EQ(cas_.PartialSize(digest_), 0);
  writer->reset();
  EXPECT_EQ(CountFiles(tmp_.path() / "cas"), 1);  // the blob and nothing else
}

TEST_F(CasDirectoryTest, ThreeBrokenOffPiecesStillMakeTheBlob) {
  for (size_t start : {size_t{0}, size_t{500}, size_t{1500}}) {
    auto writer = cas_.StartWrite(digest_, /*resumable=*/true);
    ASSERT_TRUE(writer.ok());
    EXPECT_EQ((*writer)->offset(), static_cast<int64_t>(start));
    const size_t end = start == 1500 ? content_.size() : start + (start == 0 ? 500 : 1000);
    ASSERT_TRUE((*writer)->Append(content_.substr(start, end - start)).ok());
    if (end == content_.size()) {
      ASSERT_TRUE((*writer)->Commit().ok());
    }
  }
  EXPECT_EQ(ReadFile(cas_.PathOf(digest_)), content_);
}

TEST_F(CasDirectoryTest, WrongDigestIsDataLossAndThePartialIsRemoved) {
  auto writer = cas_.StartWrite(digest_, /*resumable=*/true);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append("not the content").ok());
  absl::Status committed = (*writer)->Commit();
  EXPECT_EQ(committed.code(), absl::StatusCode::kDataLoss) << committed;
  EXPECT_FALSE(cas_.Has(digest_));
  writer->reset();
  EXPECT_EQ(cas_.PartialSize(digest_), 0);
  EXPECT_EQ(CountFiles(tmp_.path() / "cas"), 0);
}

TEST_F(CasDirectoryTest, WrongContinuationOfAPartialIsDataLossAndStartsOver) {
  {
    auto writer = cas_.StartWrite(digest_, /*resumable=*/true);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(content_.substr(0, 1000)).ok());
  }
  {
    auto writer = cas_.StartWrite(digest_, /*resumable=*/true);
    ASSERT_TRUE(writer.ok());
    ASSERT_EQ((*writer)->offset(), 1000);
    ASSERT_TRUE((*writer)->Append(std::string(content_.size() - 1000, 'z')).ok());
    EXPECT_EQ((*writer)->Commit().code(), absl::StatusCode::kDataLoss);
  }
  EXPECT_EQ(cas_.PartialSize(digest_), 0);
  auto writer = cas_.StartWrite(digest_, /*resumable=*/true);
  ASSERT_TRUE(writer.ok());
  EXPECT_EQ((*writer)->offset(), 0);  // a clean start
}

TEST_F(CasDirectoryTest, PlainWriteLeavesNothingBehindWhenAbandoned) {
  {
    auto writer = cas_.StartWrite(digest_);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(content_.substr(0, 1000)).ok());
  }
  EXPECT_EQ(cas_.PartialSize(digest_), 0);
  EXPECT_EQ(CountFiles(tmp_.path() / "cas"), 0);
  auto writer = cas_.StartWrite(digest_);
  ASSERT_TRUE(writer.ok());
  EXPECT_EQ((*writer)->offset(), 0);
}

TEST_F(CasDirectoryTest, PlainWriteDoesNotPickUpAPartial) {
  {
    auto writer = cas_.StartWrite(digest_, /*resumable=*/true);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(content_.substr(0, 1000)).ok());
  }
  auto writer = cas_.StartWrite(digest_);
  ASSERT_TRUE(writer.ok());
  EXPECT_EQ((*writer)->offset(), 0);
  ASSERT_TRUE((*writer)->Append(content_).ok());
  ASSERT_TRUE((*writer)->Commit().ok());
  EXPECT_EQ(ReadFile(cas_.PathOf(digest_)), content_);
}

TEST_F(CasDirectoryTest, InvalidDigestsAreRefused) {
  for (const std::string& digest : {std::string("../../etc/passwd"), std::string(64, 'A'), std::string(63, 'a'),
                                    std::string()}) {
    EXPECT_EQ(cas_.StartWrite(digest, true).status().code(), absl::StatusCode::kInvalidArgument) << digest;
    EXPECT_EQ(cas_.PartialSize(digest), 0);
    EXPECT_FALSE(cas_.Has(digest));
  }
  EXPECT_FALSE(fs::exists(tmp_.path() / "etc"));
}

TEST_F(CasDirectoryTest, PutAndPutFileNameBlobsByTheirDigest) {
  absl::StatusOr<std::string> put = cas_.Put(content_);
  ASSERT_TRUE(put.ok());
  EXPECT_EQ(*put, digest_);
  std::ofstream(tmp_.path() / "file", std::ios::binary) << "from a file";
  absl::StatusOr<std::string> from_file = cas_.PutFile(tmp_.path() / "file");
  ASSERT_TRUE(from_file.ok());
  EXPECT_EQ(*from_file, common::Sha256Hex("from a file"));
  EXPECT_EQ(ReadFile(cas_.PathOf(*from_file)), "from a file");
  EXPECT_EQ(cas_.Put(content_).value_or(""), digest_);  // again: already there
}

}  // namespace
}  // namespace runyard::runtime
