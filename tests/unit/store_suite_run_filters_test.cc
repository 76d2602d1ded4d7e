// The store suite (tests/unit/store_suite.h), child runs and ListRuns' filters: tags,
// properties, status, parent, experiment, archived experiments, and their combinations.

#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "tests/unit/store_suite.h"

namespace runyard::server::test_support {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::string> Ids(const absl::StatusOr<std::vector<runyard::v1::Run>>& runs) {
  EXPECT_TRUE(runs.ok()) << runs.status();
  std::vector<std::string> ids;
  if (!runs.ok()) return ids;
  for (const auto& run : *runs) ids.push_back(run.run_id());
  return ids;
}

TEST_P(StoreSuite, ChildrenAreListedOldestFirstAndKnowTheirParent) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("p", "cpu", 1000)).ok());
  runyard::v1::Run second = QueuedRun("p_2", "cpu", 2000);
  second.set_parent_run_id("p");
  runyard::v1::Run first = QueuedRun("p_1", "cpu", 2000);  // same millisecond, inserted later
  first.set_parent_run_id("p");
  runyard::v1::Run earliest = QueuedRun("p_0", "cpu", 1500);
  earliest.set_parent_run_id("p");
  ASSERT_TRUE(store().InsertRun(second).ok());
  ASSERT_TRUE(store().InsertRun(first).ok());
  ASSERT_TRUE(store().InsertRun(earliest).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("other", "cpu", 1200)).ok());

  absl::StatusOr<std::vector<std::string>> children = store().ChildRuns("p");
  ASSERT_TRUE(children.ok()) << children.status();
  EXPECT_THAT(*children, ElementsAre("p_0", "p_2", "p_1"));
  absl::StatusOr<runyard::v1::Run> child = store().GetRun("p_1");
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ(child->parent_run_id(), "p");

  children = store().ChildRuns("p_1");
  ASSERT_TRUE(children.ok()) << children.status();
  EXPECT_THAT(*children, IsEmpty());
  children = store().ChildRuns("");  // "" is no parent, not every parentless run
  ASSERT_TRUE(children.ok()) << children.status();
  EXPECT_THAT(*children, IsEmpty());
}

// Runs of two experiments with tags, properties, statuses and a parent, for the filters.
void InsertFilterRuns(Store& store) {
  auto insert = [&](const std::string& id, int64_t created_ms, const std::string& experiment,
                    std::map<std::string, std::string> tags,
                    std::map<std::string, std::string> properties, runyard::v1::RunStatus status,
                    const std::string& parent) {
    runyard::v1::Run run;
    run.set_run_id(id);
    run.set_experiment(experiment);
    run.set_target("cpu");
    run.set_status(status);
    run.set_created_unix_ms(created_ms);
    run.set_parent_run_id(parent);
    for (const auto& [k, v] : tags) (*run.mutable_tags())[k] = v;
    for (const auto& [k, v] : properties) (*run.mutable_properties())[k] = v;
    ASSERT_TRUE(store.InsertRun(run).ok()) << id;
  };
  insert("a1", 1000, "alpha", {{"team", "vision"}, {"lr", "0.1"}}, {{"git", "abc"}},
         runyard::v1::COMPLETED, "");
  insert("a2", 2000, "alpha", {{"team", "nlp"}}, {{"git", "def"}}, runyard::v1::FAILED, "");
  insert("a2_1", 2100, "alpha", {{"team", "nlp"}, {"fold", "1"}}, {}, runyard::v1::COMPLETED, "a2");
  insert("a2_2", 2200, "alpha", {{"team", "nlp"}, {"fold", "2"}}, {}, runyard::v1::RUNNING, "a2");
  insert("b1", 3000, "beta", {{"team", "vision"}}, {{"git", "abc"}}, runyard::v1::COMPLETED, "");
}

TEST_P(StoreSuite, ListRunsFiltersByTagValueOrKey) {
  InsertFilterRuns(store());
  RunFilter filter;
  filter.tags = {{"team", "vision"}};
  EXPECT_THAT(Ids(store().ListRuns(filter)), ElementsAre("b1", "a1"));
  filter.tags = {{"fold", ""}};  // any value of the key
  EXPECT_THAT(Ids(store().ListRuns(filter)), ElementsAre("a2_2", "a2_1"));
  filter.tags = {{"team", "nlp"}, {"fold", "2"}};  // every one must match
  EXPECT_THAT(Ids(store().ListRuns(filter)), ElementsAre("a2_2"));
  filter.tags = {{"team", "nobody"}};
  EXPECT_THAT(Ids(store().ListRuns(filter)), IsEmpty());
}

TEST_P(StoreSuite, ListRunsFiltersByProperty) {
  InsertFilterRuns(store());
  RunFilter filter;
  filter.properties = {{"git", "abc"}};
  EXPECT_THAT(Ids(store().ListRuns(filter)), ElementsAre("b1", "a1"));
  filter.properties = {{"git", ""}};
  EXPECT_THAT(Ids(store().ListRuns(filter)), ElementsAre("b1", "a2", "a1"));
  // A tag of that name is not a property.
  filter.properties = {{"team", ""}};
  EXPECT_THAT(Ids(store().ListRuns(filter)), IsEmpty());
}

TEST_P(StoreSuite, ListRunsFiltersByStatusParentAndExperiment) {
  InsertFilterRuns(store());
  RunFilter filter;
  filter.status = runyard::v1::COMPLETED;
  EXPECT_THAT(Ids(store().ListRuns(filter)), ElementsAre("b1", "a2_1", "a1"));
  filter = RunFilter();
  filter.parent_run_id = "a2";
  EXPECT_THAT(Ids(store().ListRuns(filter)), ElementsAre("a2_2", "a2_1"));
  filter = RunFilter();
  filter.experiment = "beta";
  EXPECT_THAT(Ids(store().ListRuns(filter)), ElementsAre("b1"));
}

TEST_P(StoreSuite, ListRunsTopLevelOnlyLeavesChildrenOutUnlessAParentIsNamed) {
  InsertFilterRuns(store());
  RunFilter filter;
  filter.top_level_only = true;
  EXPECT_THAT(Ids(store().ListRuns(filter)), ElementsAre("b1", "a2", "a1"));
  filter.parent_run_id = "a2";  // a named parent wins: its children are what is asked for
  EXPECT_THAT(Ids(store().ListRuns(filter)), ElementsAre("a2_2", "a2_1"));
}

TEST_P(StoreSuite, ListRunsCombinesFiltersAndLimit) {
  InsertFilterRuns(store());
  RunFilter filter;
  filter.experiment = "alpha";
  filter.tags = {{"team", ""}};
  filter.status = runyard::v1::COMPLETED;
  EXPECT_THAT(Ids(store().ListRuns(filter)), ElementsAre("a2_1", "a1"));
  filter.limit = 1;
  EXPECT_THAT(Ids(store().ListRuns(filter)), ElementsAre("a2_1"));
  filter = RunFilter();
  filter.parent_run_id = "a2";
  filter.status = runyard::v1::RUNNING;
  filter.tags = {{"fold", "2"}};
  EXPECT_THAT(Ids(store().ListRuns(filter)), ElementsAre("a2_2"));
  filter.tags = {{"fold", "1"}};
  EXPECT_THAT(Ids(store().ListRuns(filter)), IsEmpty());
}

TEST_P(StoreSuite, ListedRunsCarryTheirTagsPropertiesAndParent) {
  InsertFilterRuns(store());
  RunFilter filter;
  filter.parent_run_id = "a2";
  filter.limit = 1;
  absl::StatusOr<std::vector<runyard::v1::Run>> runs = store().ListRuns(filter);
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ(runs->front().parent_run_id(), "a2");
  EXPECT_EQ(runs->front().tags().at("fold"), "2");
  EXPECT_EQ(runs->front().tags().at("team"), "nlp");
  filter = RunFilter();
  filter.experiment = "beta";
  runs = store().ListRuns(filter);
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ(runs->front().properties().at("git"), "abc");
}

TEST_P(StoreSuite, RunsOfArchivedExperimentsAreLeftOutUnlessAskedOrNamed) {
  InsertFilterRuns(store());
  ASSERT_TRUE(store().SetExperimentArchived("alpha", true).ok());
  RunFilter filter;
  EXPECT_THAT(Ids(store().ListRuns(filter)), ElementsAre("b1"));
  filter.include_archived = true;
  EXPECT_THAT(Ids(store().ListRuns(filter)), ElementsAre("b1", "a2_2", "a2_1", "a2", "a1"));
  filter = RunFilter();
  filter.experiment = "alpha";  // named: listed though archived
  EXPECT_THAT(Ids(store().ListRuns(filter)), ElementsAre("a2_2", "a2_1", "a2", "a1"));
  // The old form (an experiment and a limit) lists archived ones too.
  EXPECT_THAT(Ids(store().ListRuns("", 2)), ElementsAre("b1", "a2_2"));

  ASSERT_TRUE(store().SetExperimentArchived("alpha", false).ok());
  EXPECT_THAT(Ids(store().ListRuns(RunFilter())), ElementsAre("b1", "a2_2", "a2_1", "a2", "a1"));
}

}  // namespace
}  // namespace runyard::server::test_support
