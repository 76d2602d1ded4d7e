// Tests for server/blob_store.h: content-addressed blobs that become visible only once
// their bytes hash to their name.

#include "server/blob_store.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/digest.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::server {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using ::runyard::testutil::ScopedTempDir;

std::string ReadFile(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class BlobStoreTest : public ::testing::Test {
 protected:
  fs::path root() const { return tmp_.path() / "blobs"; }

  // Regular files anywhere under the root (published blobs and leftovers alike).
  int CountFiles() const {
    int count = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root(), ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file()) ++count;
    }
    return count;
  }

  ScopedTempDir tmp_;
  BlobStore blobs_{tmp_.path() / "blobs"};
};

TEST_F(BlobStoreTest, WriterWithTheRightDigestPublishesTheBlob) {
  const std::string digest = common::Sha256Hex("hello world");
  absl::StatusOr<std::unique_ptr<BlobStore::Writer>> writer = blobs_.StartWrite(digest);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Append("hello ").ok());
  ASSERT_TRUE((*writer)->Append("world").ok());
  ASSERT_TRUE((*writer)->Commit().ok());
  EXPECT_TRUE(blobs_.Has(digest));
  EXPECT_EQ(ReadFile(blobs_.PathOf(digest)), "hello world");
}

TEST_F(BlobStoreTest, BlobIsStoredUnderItsDigestPrefix) {
  const std::string digest = common::Sha256Hex("x");
  EXPECT_EQ(blobs_.PathOf(digest), root() / digest.substr(0, 2) / digest);
}

TEST_F(BlobStoreTest, BlobIsInvisibleBeforeCommit) {
  const std::string digest = common::Sha256Hex("hello");
  absl::StatusOr<std::unique_ptr<BlobStore::Writer>> writer = blobs_.StartWrite(digest);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append("hello").ok());
  EXPECT_FALSE(blobs_.Has(digest));
  ASSERT_TRUE((*writer)->Commit().ok());
  EXPECT_TRUE(blobs_.Has(digest));
}

TEST_F(BlobStoreTest, EmptyBlobCanBeStored) {
  const std::string digest = common::Sha256Hex("");
  absl::StatusOr<std::unique_ptr<BlobStore::Writer>> writer = blobs_.StartWrite(digest);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Commit().ok());
  EXPECT_TRUE(blobs_.Has(digest));
}

TEST_F(BlobStoreTest, WrongDigestIsDataLossAndPublishesNothing) {
  const std::string claimed = common::Sha256Hex("what the client said");
  {
    absl::StatusOr<std::unique_ptr<BlobStore::Writer>> writer = blobs_.StartWrite(claimed);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append("what the client sent").ok());
    absl::Status committed = (*writer)->Commit();
    EXPECT_EQ(committed.code(), absl::StatusCode::kDataLoss) << committed;
    EXPECT_THAT(std::string(committed.message()), HasSubstr(claimed));
  }
  EXPECT_FALSE(blobs_.Has(claimed));
  EXPECT_FALSE(blobs_.Has(common::Sha256Hex("what the client sent")));
  EXPECT_EQ(CountFiles(), 0) << "the rejected upload left a file behind";
}

TEST_F(BlobStoreTest, AbandonedWriterLeavesNothingBehind) {
  {
    absl::StatusOr<std::unique_ptr<BlobStore::Writer>> writer =
        blobs_.StartWrite(common::Sha256Hex("partial upload"));
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append("partial").ok());
  }
  EXPECT_EQ(CountFiles(), 0);
}

TEST_F(BlobStoreTest, InvalidDigestStringsAreRefused) {
  const std::string good = common::Sha256Hex("x");
  std::string upper = good;
  for (char& c : upper) c = static_cast<char>(toupper(c));
  for (const std::string& digest :
       {std::string(""), std::string("abc"), good + "0", upper, std::string("../../etc/passwd"),
        std::string(64, 'g'), "../" + good.substr(3)}) {
    absl::StatusOr<std::unique_ptr<BlobStore::Writer>> writer = blobs_.StartWrite(digest);
    EXPECT_FALSE(writer.ok()) << digest;
    EXPECT_EQ(writer.status().code(), absl::StatusCode::kInvalidArgument) << digest;
    EXPECT_FALSE(blobs_.Has(digest)) << digest;
  }
  EXPECT_FALSE(fs::exists(root() / "tmp")) << "a refused digest must not start a write";
}

TEST_F(BlobStoreTest, PutFileStoresTheFileUnderItsDigest) {
  const fs::path file = tmp_.path() / "snapshot.tar.gz";
  std::ofstream(file, std::ios::binary) << "some snapshot bytes";
  absl::StatusOr<std::string> digest = blobs_.PutFile(file);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, common::Sha256Hex("some snapshot bytes"));
  EXPECT_TRUE(blobs_.Has(*digest));
  EXPECT_EQ(ReadFile(blobs_.PathOf(*digest)), "some snapshot bytes");
}

TEST_F(BlobStoreTest, PutFileTwiceKeepsOneBlob) {
  const fs::path file = tmp_.path() / "snapshot.tar.gz";
  std::ofstream(file, std::ios::binary) << "same bytes";
  absl::StatusOr<std::string> first = blobs_.PutFile(file);
  absl::StatusOr<std::string> second = blobs_.PutFile(file);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(*first, *second);
  EXPECT_EQ(CountFiles(), 1);
}

TEST_F(BlobStoreTest, PutFileOfAMissingFileFails) {
  absl::StatusOr<std::string> digest = blobs_.PutFile(tmp_.path() / "absent");
  EXPECT_FALSE(digest.ok());
}

TEST_F(BlobStoreTest, UnknownDigestIsNotHad) {
  EXPECT_FALSE(blobs_.Has(common::Sha256Hex("never stored")));
}

}  // namespace
}  // namespace runyard::server
