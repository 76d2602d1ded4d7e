// Tests for ControlPlane's blob store operations (server/control_plane_cas.cc, and
// server/blob_uploads.h): what is missing, whole and resumable uploads, blobs streamed out.

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/digest.h"
#include "tests/unit/control_plane_fixture.h"

namespace runyard::server {
namespace {

using test_support::ControlPlaneTest;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using ControlPlaneCasTest = ControlPlaneTest;

TEST_F(ControlPlaneCasTest, FindMissingBlobsNamesOnlyThoseNotStored) {
  const std::string stored = common::Sha256Hex("stored");
  const std::string absent = common::Sha256Hex("absent");
  ASSERT_TRUE(Plane().PutBlob(stored, "stored").ok());
  absl::StatusOr<std::vector<std::string>> missing = Plane().FindMissingBlobs({stored, absent});
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_THAT(*missing, ElementsAre(absent));
}

TEST_F(ControlPlaneCasTest, FindMissingBlobsRejectsADigestThatIsNoSha256) {
  absl::StatusOr<std::vector<std::string>> missing =
      Plane().FindMissingBlobs({common::Sha256Hex("a"), "../../etc/passwd"});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("'../../etc/passwd' is not a SHA-256 digest"));
}

TEST_F(ControlPlaneCasTest, PutBlobRefusesBytesThatDoNotHashToTheDigest) {
  const std::string digest = common::Sha256Hex("expected");
  EXPECT_EQ(Plane().PutBlob(digest, "something else").code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(*Plane().FindMissingBlobs({digest}), ElementsAre(digest));
}

// Local mode's large files: streamed from the file, each call into a temporary file of its
// own (two CLI processes storing one new file must not append to one partial file).
TEST_F(ControlPlaneCasTest, PutBlobFileStoresAFileAndLeavesNoPartialBehind) {
  const std::string data(3 << 20, 'x');  // three chunks
  const std::filesystem::path file = std::filesystem::temp_directory_path() /
                                     ("runyard-put-blob-file-" + std::to_string(::getpid()));
  { std::ofstream(file, std::ios::binary) << data; }
  const std::string digest = common::Sha256Hex(data);
  int64_t progress = 0;
  ASSERT_TRUE(Plane().PutBlobFile(digest, file, [&](int64_t bytes) { progress += bytes; }).ok());
  EXPECT_EQ(progress, static_cast<int64_t>(data.size()));
  EXPECT_THAT(*Plane().FindMissingBlobs({digest}), IsEmpty());
  EXPECT_EQ(Plane().BlobUploadOffset(digest)->offset(), 0);

  const std::string other = common::Sha256Hex("another file");
  EXPECT_EQ(Plane().PutBlobFile(other, file, nullptr).code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(*Plane().FindMissingBlobs({other}), ElementsAre(other));
  EXPECT_EQ(Plane().BlobUploadOffset(other)->offset(), 0)
      << "a failed whole write leaves no partial";
  std::filesystem::remove(file);
}

TEST_F(ControlPlaneCasTest, ABrokenOffUploadResumesWhereItsBytesEnd) {
  const std::string data = "0123456789abcdef";
  const std::string digest = common::Sha256Hex(data);
  {
    absl::StatusOr<std::unique_ptr<BlobUploads::Upload>> upload =
        Plane().StartBlobUpload(digest, 0);
    ASSERT_TRUE(upload.ok()) << upload.status();
    ASSERT_TRUE((*upload)->Append(data.substr(0, 6)).ok());
  }  // the client went away
  absl::StatusOr<runyard::v1::GetUploadOffsetResponse> where = Plane().BlobUploadOffset(digest);
  ASSERT_TRUE(where.ok()) << where.status();
  EXPECT_FALSE(where->complete());
  EXPECT_EQ(where->offset(), 6);

  absl::StatusOr<std::unique_ptr<BlobUploads::Upload>> wrong = Plane().StartBlobUpload(digest, 0);
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(wrong.status().message()), HasSubstr("must resume at 6"));

  absl::StatusOr<std::unique_ptr<BlobUploads::Upload>> resumed = Plane().StartBlobUpload(digest, 6);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  ASSERT_TRUE((*resumed)->Append(data.substr(6)).ok());
  EXPECT_EQ((*resumed)->offset(), 16);
  ASSERT_TRUE((*resumed)->Commit().ok());
  resumed->reset();
  where = Plane().BlobUploadOffset(digest);
  ASSERT_TRUE(where.ok());
  EXPECT_TRUE(where->complete());
  EXPECT_THAT(*Plane().FindMissingBlobs({digest}), IsEmpty());
}

TEST_F(ControlPlaneCasTest, OneUploadOfABlobAtATime) {
  const std::string digest = common::Sha256Hex("contended");
  absl::StatusOr<std::unique_ptr<BlobUploads::Upload>> first = Plane().StartBlobUpload(digest, 0);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(Plane().StartBlobUpload(digest, 0).status().code(), absl::StatusCode::kAborted);
  first->reset();
  EXPECT_TRUE(Plane().StartBlobUpload(digest, 0).ok()) << "the first upload's end frees the blob";
}

TEST_F(ControlPlaneCasTest, BlobUploadOffsetRejectsADigestThatIsNoSha256) {
  EXPECT_EQ(Plane().BlobUploadOffset("nope").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ControlPlaneCasTest, ReadBlobsStreamsEachBlobInOrder) {
  const std::string big(3 << 19, 'b');  // 1.5 MiB: two chunks
  const std::string big_digest = common::Sha256Hex(big);
  const std::string empty_digest = common::Sha256Hex("");
  ASSERT_TRUE(Plane().PutBlob(big_digest, big).ok());
  ASSERT_TRUE(Plane().PutBlob(empty_digest, "").ok());
  std::vector<std::string> chunks;
  std::string bytes;
  ASSERT_TRUE(Plane()
                  .ReadBlobs({empty_digest, big_digest},
                             [&](const runyard::v1::BlobChunk& chunk) {
                               chunks.push_back(chunk.digest().substr(0, 4) + " " +
                                                std::to_string(chunk.offset()) + "+" +
                                                std::to_string(chunk.data().size()) + "/" +
                                                std::to_string(chunk.size()));
                               if (chunk.digest() == big_digest) bytes += chunk.data();
                               return true;
                             })
                  .ok());
  const std::string e = empty_digest.substr(0, 4);
  const std::string b = big_digest.substr(0, 4);
  EXPECT_THAT(chunks,
              ElementsAre(e + " 0+0/0", b + " 0+1048576/1572864", b + " 1048576+524288/1572864"));
  EXPECT_EQ(bytes, big);
}

TEST_F(ControlPlaneCasTest, ReadBlobsOfAMissingBlobIsNotFoundBeforeAnythingIsSent) {
  const std::string stored = common::Sha256Hex("stored");
  ASSERT_TRUE(Plane().PutBlob(stored, "stored").ok());
  int sent = 0;
  absl::Status read =
      Plane().ReadBlobs({stored, common::Sha256Hex("absent")}, [&](const runyard::v1::BlobChunk&) {
        ++sent;
        return true;
      });
  EXPECT_EQ(read.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(sent, 0);
}

}  // namespace
}  // namespace runyard::server
