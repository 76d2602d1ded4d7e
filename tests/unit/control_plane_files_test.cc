// Tests for ControlPlane::ListFiles and ReadFile (server/run_file_reads.cc): a run's files
// as `runyard files`, `download` and `logs` read them, in chunks of at most 1 MiB.

#include <string>
#include <vector>

#include "tests/unit/control_plane_fixture.h"

namespace runyard::server {
namespace {

using test_support::ControlPlaneTest;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Chunk {
  int64_t offset;
  size_t size;
  int64_t total;
  bool operator==(const Chunk&) const = default;
};

class ControlPlaneFilesTest : public ControlPlaneTest {
 protected:
  void SetUp() override {
    ControlPlaneTest::SetUp();
    lease_ = RunningRun();
  }

  void Write(const std::string& path, const std::string& data) {
    runyard::v1::AppendRequest request;
    *request.mutable_lease() = lease_;
    request.set_path(path);
    request.set_data(data);
    ASSERT_TRUE(Plane().Append(request).ok());
  }

  // Reads `path` from `offset`; `stop_after` chunks at most.
  absl::Status Read(const std::string& path, int64_t offset, std::vector<Chunk>* chunks,
                    std::string* bytes, size_t stop_after = 1000) {
    return Plane().ReadFile(
        lease_.run_id(), path, offset, [&](const runyard::v1::FileChunk& chunk) {
          chunks->push_back({chunk.offset(), chunk.data().size(), chunk.total_size()});
          *bytes += chunk.data();
          return chunks->size() < stop_after;
        });
  }

  runyard::v1::Lease lease_;
};

TEST_F(ControlPlaneFilesTest, ListFilesNamesEveryFileWithItsSize) {
  Write("outputs/model.txt", "weights");
  Write("user_logs/std_log.txt", "hello\n");
  absl::StatusOr<std::vector<runyard::v1::FileInfo>> files = Plane().ListFiles(lease_.run_id());
  ASSERT_TRUE(files.ok()) << files.status();
  std::vector<std::string> listed;
  for (const auto& file : *files) listed.push_back(file.path() + " " + std::to_string(file.size()));
  EXPECT_THAT(listed,
              ::testing::UnorderedElementsAre("outputs/model.txt 7", "user_logs/std_log.txt 6"));
}

TEST_F(ControlPlaneFilesTest, ListFilesOfAnUnknownRunIsNotFound) {
  EXPECT_EQ(Plane().ListFiles("run_nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ControlPlaneFilesTest, ReadFileOfAMissingFileIsNotFoundNamingIt) {
  std::vector<Chunk> chunks;
  std::string bytes;
  absl::Status read = Read("outputs/none.txt", 0, &chunks, &bytes);
  EXPECT_EQ(read.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(read.message()), HasSubstr("has no file 'outputs/none.txt'"));
  EXPECT_TRUE(chunks.empty());
}

TEST_F(ControlPlaneFilesTest, ReadFileRefusesAPathOutsideTheRun) {
  std::vector<Chunk> chunks;
  std::string bytes;
  EXPECT_EQ(Read("../runyard.db", 0, &chunks, &bytes).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ControlPlaneFilesTest, ReadFileSendsChunksOfAtMostOneMebibyteWithTheTotalSize) {
  const std::string data(5 << 19, 'x');  // 2.5 MiB
  Write("outputs/big.bin", data);
  std::vector<Chunk> chunks;
  std::string bytes;
  ASSERT_TRUE(Read("outputs/big.bin", 0, &chunks, &bytes).ok());
  const int64_t total = static_cast<int64_t>(data.size());
  EXPECT_THAT(chunks, ElementsAre(Chunk{0, 1 << 20, total}, Chunk{1 << 20, 1 << 20, total},
                                  Chunk{2 << 20, 1 << 19, total}));
  EXPECT_EQ(bytes, data);
}

TEST_F(ControlPlaneFilesTest, ReadFileFromAnOffsetSendsTheRest) {
  Write("outputs/a.txt", "abcdef");
  std::vector<Chunk> chunks;
  std::string bytes;
  ASSERT_TRUE(Read("outputs/a.txt", 4, &chunks, &bytes).ok());
  EXPECT_THAT(chunks, ElementsAre(Chunk{4, 2, 6}));
  EXPECT_EQ(bytes, "ef");
}

TEST_F(ControlPlaneFilesTest, ReadFileAtOrPastTheEndSendsOneEmptyChunkWithTheSize) {
  Write("outputs/a.txt", "abc");
  for (int64_t offset : {3, 10}) {
    std::vector<Chunk> chunks;
    std::string bytes;
    ASSERT_TRUE(Read("outputs/a.txt", offset, &chunks, &bytes).ok());
    EXPECT_THAT(chunks, ElementsAre(Chunk{offset, 0, 3})) << offset;
  }
}

TEST_F(ControlPlaneFilesTest, EmitReturningFalseStopsTheRead) {
  Write("outputs/big.bin", std::string(3 << 20, 'y'));
  std::vector<Chunk> chunks;
  std::string bytes;
  ASSERT_TRUE(Read("outputs/big.bin", 0, &chunks, &bytes, /*stop_after=*/1).ok());
  EXPECT_EQ(chunks.size(), 1u);
}

}  // namespace
}  // namespace runyard::server
