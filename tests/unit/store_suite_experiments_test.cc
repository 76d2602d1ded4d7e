// The store suite (tests/unit/store_suite.h), experiments: listed by name with their run
// count and newest run, archived ones hidden unless asked, archive and unarchive.

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "tests/unit/store_suite.h"

namespace runyard::server::test_support {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::string> Names(
    const absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>>& all) {
  EXPECT_TRUE(all.ok()) << all.status();
  std::vector<std::string> names;
  if (!all.ok()) return names;
  for (const auto& experiment : *all) names.push_back(experiment.name());
  return names;
}

TEST_P(StoreSuite, NoExperimentsAtFirst) {
  EXPECT_THAT(Names(store().ListExperiments(true)), IsEmpty());
}

TEST_P(StoreSuite, ExperimentsByNameWithRunCountAndNewestRun) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("b1", "cpu", 5000, "beta")).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("a1", "cpu", 1000, "alpha")).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("a2", "cpu", 3000, "alpha")).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("a3", "cpu", 2000, "alpha")).ok());

  absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>> all = store().ListExperiments(false);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  const runyard::v1::ExperimentInfo& alpha = (*all)[0];
  EXPECT_EQ(alpha.name(), "alpha");
  EXPECT_EQ(alpha.created_unix_ms(), 1000);  // its first run's
  EXPECT_FALSE(alpha.archived());
  EXPECT_EQ(alpha.run_count(), 3);
  EXPECT_EQ(alpha.last_run_unix_ms(), 3000);
  EXPECT_EQ((*all)[1].name(), "beta");
  EXPECT_EQ((*all)[1].run_count(), 1);
  EXPECT_EQ((*all)[1].last_run_unix_ms(), 5000);
}

TEST_P(StoreSuite, ArchivedExperimentsAreListedOnlyWhenAskedAndComeBack) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("a1", "cpu", 1000, "alpha")).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("b1", "cpu", 2000, "beta")).ok());
  ASSERT_TRUE(store().SetExperimentArchived("alpha", true).ok());
  ASSERT_TRUE(store().SetExperimentArchived("alpha", true).ok());  // again: no change

  EXPECT_THAT(Names(store().ListExperiments(false)), ElementsAre("beta"));
  absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>> all = store().ListExperiments(true);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_TRUE((*all)[0].archived());
  EXPECT_EQ((*all)[0].run_count(), 1);  // archived, never deleted
  EXPECT_FALSE((*all)[1].archived());
  // Its runs are still there.
  absl::StatusOr<bool> exists = store().RunExists("a1");
  ASSERT_TRUE(exists.ok()) << exists.status();
  EXPECT_TRUE(*exists);

  ASSERT_TRUE(store().SetExperimentArchived("alpha", false).ok());
  EXPECT_THAT(Names(store().ListExperiments(false)), ElementsAre("alpha", "beta"));
}

TEST_P(StoreSuite, ANewRunOfAnArchivedExperimentLeavesItArchived) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("a1", "cpu", 1000, "alpha")).ok());
  ASSERT_TRUE(store().SetExperimentArchived("alpha", true).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("a2", "cpu", 2000, "alpha")).ok());
  absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>> all = store().ListExperiments(true);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_TRUE(all->front().archived());
  EXPECT_EQ(all->front().run_count(), 2);
}

TEST_P(StoreSuite, ArchivingAnUnknownExperimentIsNotFound) {
  absl::Status archived = store().SetExperimentArchived("nope", true);
  EXPECT_EQ(archived.code(), absl::StatusCode::kNotFound) << archived;
  EXPECT_THAT(archived.message(), ::testing::HasSubstr("nope"));
}

}  // namespace
}  // namespace runyard::server::test_support
