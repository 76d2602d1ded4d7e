// Tests for server/run_files.h: run-history files written as idempotent appends at an
// offset, and their sizes as listed by the store.

#include "server/run_files.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/scoped_temp_dir.h"
#include "server/store.h"

namespace runyard::server {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using ::runyard::testutil::ScopedTempDir;

MATCHER_P2(FileIs, path, size, "") { return arg.path() == path && arg.size() == size; }

class RunFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Store>> store =
        Store::Open((tmp_.path() / "runyard.db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    files_ = std::make_unique<RunFiles>(tmp_.path() / "files", store_.get());
  }

  absl::StatusOr<int64_t> Append(const std::string& path, int64_t offset, std::string_view data,
                                 bool truncate = false) {
    return files_->Append(kRun, path, offset, data, truncate);
  }

  // What the server has on disk for `path` of kRun ("<absent>" when there is no file).
  std::string Content(const std::string& path) {
    absl::StatusOr<fs::path> file = files_->Locate(kRun, path);
    if (!file.ok() || !fs::exists(*file)) return "<absent>";
    std::ifstream in(*file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  static constexpr char kRun[] = "run_1";
  ScopedTempDir tmp_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<RunFiles> files_;
};

TEST_F(RunFilesTest, SequentialAppendsGrowTheFile) {
  EXPECT_EQ(*Append("outputs/a.txt", 0, "hello"), 5);
  EXPECT_EQ(*Append("outputs/a.txt", 5, " world"), 11);
  EXPECT_EQ(Content("outputs/a.txt"), "hello world");
}

TEST_F(RunFilesTest, ResendingACommittedRangeIsANoOp) {
  ASSERT_EQ(*Append("outputs/a.txt", 0, "hello world"), 11);
  absl::StatusOr<int64_t> again = Append("outputs/a.txt", 0, "hello");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, 11);
  EXPECT_EQ(Content("outputs/a.txt"), "hello world");
}

TEST_F(RunFilesTest, ResendingTheWholeFileIsANoOp) {
  ASSERT_EQ(*Append("outputs/a.txt", 0, "hello"), 5);
  EXPECT_EQ(*Append("outputs/a.txt", 0, "hello"), 5);
  EXPECT_EQ(Content("outputs/a.txt"), "hello");
}

TEST_F(RunFilesTest, OverlappingAppendWritesOnlyTheNewTail) {
  ASSERT_EQ(*Append("outputs/a.txt", 0, "hello"), 5);
  EXPECT_EQ(*Append("outputs/a.txt", 3, "lo world"), 11);
  EXPECT_EQ(Content("outputs/a.txt"), "hello world");
}

TEST_F(RunFilesTest, EmptyAppendAtTheEndReturnsTheSize) {
  ASSERT_EQ(*Append("outputs/a.txt", 0, "abc"), 3);
  EXPECT_EQ(*Append("outputs/a.txt", 3, ""), 3);
}

TEST_F(RunFilesTest, GapIsOutOfRangeAndWritesNothing) {
  ASSERT_EQ(*Append("outputs/a.txt", 0, "hello"), 5);
  absl::StatusOr<int64_t> gap = Append("outputs/a.txt", 7, "xx");
  ASSERT_FALSE(gap.ok());
  EXPECT_EQ(gap.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(gap.status().message()), HasSubstr("5"));  // the committed size
  EXPECT_EQ(Content("outputs/a.txt"), "hello");
  EXPECT_THAT(*store_->ListFiles(kRun), ElementsAre(FileIs("outputs/a.txt", 5)));
}

TEST_F(RunFilesTest, GapOnANewFileIsOutOfRangeAndNotListed) {
  absl::StatusOr<int64_t> gap = Append("outputs/new.txt", 10, "x");
  ASSERT_FALSE(gap.ok());
  EXPECT_EQ(gap.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(*store_->ListFiles(kRun), IsEmpty());
}

// A refused append writes nothing, not even an empty file.
TEST_F(RunFilesTest, GapOnANewFileCreatesNoFileOnDisk) {
  ASSERT_FALSE(Append("outputs/new.txt", 10, "x").ok());
  EXPECT_EQ(Content("outputs/new.txt"), "<absent>");
}

TEST_F(RunFilesTest, TruncateRestartsTheFile) {
  ASSERT_EQ(*Append("outputs/a.txt", 0, "hello world"), 11);
  EXPECT_EQ(*Append("outputs/a.txt", 0, "new", /*truncate=*/true), 3);
  EXPECT_EQ(Content("outputs/a.txt"), "new");
  EXPECT_THAT(*store_->ListFiles(kRun), ElementsAre(FileIs("outputs/a.txt", 3)));
}

TEST_F(RunFilesTest, TruncateWithNoDataLeavesAnEmptyListedFile) {
  ASSERT_EQ(*Append("outputs/a.txt", 0, "hello"), 5);
  EXPECT_EQ(*Append("outputs/a.txt", 0, "", /*truncate=*/true), 0);
  EXPECT_EQ(Content("outputs/a.txt"), "");
  EXPECT_THAT(*store_->ListFiles(kRun), ElementsAre(FileIs("outputs/a.txt", 0)));
}

TEST_F(RunFilesTest, TruncateAtNonZeroOffsetIsRefused) {
  ASSERT_EQ(*Append("outputs/a.txt", 0, "hello"), 5);
  absl::StatusOr<int64_t> result = Append("outputs/a.txt", 5, "x", /*truncate=*/true);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Content("outputs/a.txt"), "hello");
}

TEST_F(RunFilesTest, NegativeOffsetIsRefused) {
  absl::StatusOr<int64_t> result = Append("outputs/a.txt", -1, "x");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(RunFilesTest, PathsOutsideTheHistoryFoldersAreRefused) {
  for (const std::string path : {"../x", "outputs", "outputs/", "secrets/x", "outputs/../../x",
                                 "/etc/passwd", "outputs//x"}) {
    absl::StatusOr<int64_t> result = Append(path, 0, "x");
    EXPECT_FALSE(result.ok()) << path;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << path;
  }
  EXPECT_THAT(*store_->ListFiles(kRun), IsEmpty());
  EXPECT_FALSE(fs::exists(tmp_.path() / "x"));
  EXPECT_FALSE(fs::exists(tmp_.path() / "files" / "x"));
}

TEST_F(RunFilesTest, BadRunIdsAreRefused) {
  for (const std::string run_id : {"", "..", "../other", "a/b", "/abs"}) {
    absl::StatusOr<int64_t> result = files_->Append(run_id, "outputs/a.txt", 0, "x", false);
    EXPECT_FALSE(result.ok()) << run_id;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << run_id;
  }
}

TEST_F(RunFilesTest, NestedPathsCreateTheirFolders) {
  EXPECT_EQ(*Append("logs/a/b/c.txt", 0, "deep"), 4);
  EXPECT_EQ(Content("logs/a/b/c.txt"), "deep");
}

TEST_F(RunFilesTest, ListFilesShowsEachFileWithItsSizeSortedByPath) {
  ASSERT_TRUE(Append("user_logs/std_log.txt", 0, "line 1\n").ok());
  ASSERT_TRUE(Append("outputs/model.txt", 0, "weights").ok());
  ASSERT_TRUE(Append("user_logs/std_log.txt", 7, "line 2\n").ok());
  EXPECT_THAT(*store_->ListFiles(kRun),
              ElementsAre(FileIs("outputs/model.txt", 7), FileIs("user_logs/std_log.txt", 14)));
}

TEST_F(RunFilesTest, FilesOfDifferentRunsAreKeptApart) {
  ASSERT_TRUE(files_->Append("run_a", "outputs/x", 0, "aaa", false).ok());
  ASSERT_TRUE(files_->Append("run_b", "outputs/x", 0, "b", false).ok());
  EXPECT_THAT(*store_->ListFiles("run_a"), ElementsAre(FileIs("outputs/x", 3)));
  EXPECT_THAT(*store_->ListFiles("run_b"), ElementsAre(FileIs("outputs/x", 1)));
}

TEST_F(RunFilesTest, LocatePutsFilesUnderTheRunsFolder) {
  absl::StatusOr<fs::path> located = files_->Locate(kRun, "outputs/a.txt");
  ASSERT_TRUE(located.ok()) << located.status();
  EXPECT_EQ(*located, tmp_.path() / "files" / kRun / "outputs" / "a.txt");
}

}  // namespace
}  // namespace runyard::server
