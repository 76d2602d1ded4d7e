// Tests for common/relative_path.h: paths that come from outside (archive entries,
// requests) and the run-history folders a run file may live in.

#include "common/relative_path.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace runyard::common {
namespace {

using ::testing::HasSubstr;

void ExpectRefused(const absl::Status& status) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
}

// ------------------------------------------------------------------ CheckRelativePath

TEST(CheckRelativePathTest, AcceptsPlainRelativePaths) {
  EXPECT_TRUE(CheckRelativePath("a").ok());
  EXPECT_TRUE(CheckRelativePath("a/b.txt").ok());
  EXPECT_TRUE(CheckRelativePath("deep/er/still/file.tar.gz").ok());
}

TEST(CheckRelativePathTest, AcceptsFolderWithTrailingSlash) {
  EXPECT_TRUE(CheckRelativePath("a/b/").ok());
}

TEST(CheckRelativePathTest, AcceptsNamesThatOnlyStartWithDots) {
  EXPECT_TRUE(CheckRelativePath(".hidden").ok());
  EXPECT_TRUE(CheckRelativePath("a/..b").ok());
  EXPECT_TRUE(CheckRelativePath("...").ok());
}

TEST(CheckRelativePathTest, RefusesEmptyPath) { ExpectRefused(CheckRelativePath("")); }

TEST(CheckRelativePathTest, RefusesAbsolutePathAndNamesIt) {
  absl::Status status = CheckRelativePath("/abs");
  ExpectRefused(status);
  EXPECT_THAT(std::string(status.message()), HasSubstr("/abs"));
}

TEST(CheckRelativePathTest, RefusesDotDotInTheMiddle) {
  ExpectRefused(CheckRelativePath("a/../b"));
}

TEST(CheckRelativePathTest, RefusesDotDotAlone) { ExpectRefused(CheckRelativePath("..")); }

TEST(CheckRelativePathTest, RefusesDotDotAtTheEnd) { ExpectRefused(CheckRelativePath("a/..")); }

TEST(CheckRelativePathTest, RefusesDotComponent) {
  ExpectRefused(CheckRelativePath("."));
  ExpectRefused(CheckRelativePath("a/./b"));
}

TEST(CheckRelativePathTest, RefusesEmptyComponent) { ExpectRefused(CheckRelativePath("a//b")); }

TEST(CheckRelativePathTest, RefusesLoneSlash) { ExpectRefused(CheckRelativePath("/")); }

TEST(CheckRelativePathTest, RefusesEmbeddedNul) {
  ExpectRefused(CheckRelativePath(std::string("a\0b", 3)));
}

TEST(CheckRelativePathTest, RefusesComponentLongerThan255Bytes) {
  ExpectRefused(CheckRelativePath("a/" + std::string(300, 'x')));
}

TEST(CheckRelativePathTest, AcceptsComponentOfExactly255Bytes) {
  EXPECT_TRUE(CheckRelativePath("a/" + std::string(255, 'x')).ok());
}

TEST(CheckRelativePathTest, RefusesPathLongerThan4096Bytes) {
  std::string path;
  while (path.size() <= 4096) path += "abcdefgh/";
  path += "f";
  ExpectRefused(CheckRelativePath(path));
}

// ------------------------------------------------------------------ CheckRunFilePath

TEST(CheckRunFilePathTest, AcceptsFilesUnderEachHistoryFolder) {
  EXPECT_TRUE(CheckRunFilePath("outputs/x").ok());
  EXPECT_TRUE(CheckRunFilePath("logs/a/b").ok());
  EXPECT_TRUE(CheckRunFilePath("user_logs/std_log.txt").ok());
  EXPECT_TRUE(CheckRunFilePath("system_logs/runtime.txt").ok());
}

TEST(CheckRunFilePathTest, RefusesHistoryFolderItself) {
  ExpectRefused(CheckRunFilePath("outputs/"));
  ExpectRefused(CheckRunFilePath("outputs"));
}

TEST(CheckRunFilePathTest, RefusesOtherFolders) {
  absl::Status status = CheckRunFilePath("secrets/x");
  ExpectRefused(status);
  EXPECT_THAT(std::string(status.message()), HasSubstr("secrets/x"));
}

TEST(CheckRunFilePathTest, RefusesFolderNameThatOnlySharesAPrefix) {
  ExpectRefused(CheckRunFilePath("outputsx/y"));
}

TEST(CheckRunFilePathTest, RefusesEscapeFromAHistoryFolder) {
  ExpectRefused(CheckRunFilePath("outputs/../secrets"));
  ExpectRefused(CheckRunFilePath("../outputs/x"));
}

}  // namespace
}  // namespace runyard::common
