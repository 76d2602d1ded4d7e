// The store suite (tests/unit/store_suite.h), files: a run's file sizes, as RunFiles records
// them.

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "tests/unit/store_suite.h"

namespace runyard::server::test_support {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

MATCHER_P2(FileIs, path, size, "") { return arg.path() == path && arg.size() == size; }

TEST_P(StoreSuite, FilesByPathWithTheirLastSize) {
  ASSERT_TRUE(store().SetFileSize("run_1", "outputs/model.pt", 10, 1000).ok());
  ASSERT_TRUE(store().SetFileSize("run_1", "logs/stdout.txt", 5, 1000).ok());
  ASSERT_TRUE(store().SetFileSize("run_1", "outputs/model.pt", 42, 2000).ok());

  absl::StatusOr<std::vector<runyard::v1::FileInfo>> files = store().ListFiles("run_1");
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_THAT(*files, ElementsAre(FileIs("logs/stdout.txt", 5), FileIs("outputs/model.pt", 42)));
}

TEST_P(StoreSuite, FilesArePerRun) {
  ASSERT_TRUE(store().SetFileSize("run_1", "a.txt", 1, 1000).ok());
  ASSERT_TRUE(store().SetFileSize("run_2", "a.txt", 2, 1000).ok());

  absl::StatusOr<std::vector<runyard::v1::FileInfo>> second = store().ListFiles("run_2");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_THAT(*second, ElementsAre(FileIs("a.txt", 2)));
  absl::StatusOr<std::vector<runyard::v1::FileInfo>> none = store().ListFiles("run_3");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_THAT(*none, IsEmpty());
}

}  // namespace
}  // namespace runyard::server::test_support
