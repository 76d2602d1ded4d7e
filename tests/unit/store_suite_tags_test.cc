// The store suite (tests/unit/store_suite.h), tags and properties: InsertRun keeps the
// spec's and the Run's own (which win), tags change and go, properties never change.

#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "tests/unit/store_suite.h"

namespace runyard::server::test_support {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

std::map<std::string, std::string> Tags(Store& store, const std::string& run_id) {
  absl::StatusOr<runyard::v1::Run> run = store.GetRun(run_id);
  EXPECT_TRUE(run.ok()) << run.status();
  if (!run.ok()) return {};
  return {run->tags().begin(), run->tags().end()};
}

std::map<std::string, std::string> Properties(Store& store, const std::string& run_id) {
  absl::StatusOr<runyard::v1::Run> run = store.GetRun(run_id);
  EXPECT_TRUE(run.ok()) << run.status();
  if (!run.ok()) return {};
  return {run->properties().begin(), run->properties().end()};
}

TEST_P(StoreSuite, InsertKeepsTheSpecsTagsAndPropertiesWithTheRunsOverThem) {
  runyard::v1::Run run = QueuedRun("run_1");
  (*run.mutable_spec()->mutable_tags())["team"] = "vision";
  (*run.mutable_spec()->mutable_tags())["lr"] = "0.1";
  (*run.mutable_tags())["lr"] = "0.2";
  (*run.mutable_spec()->mutable_properties())["git.commit"] = "abc";
  (*run.mutable_properties())["azureml.runsource"] = "experiment";
  ASSERT_TRUE(store().InsertRun(run).ok());

  EXPECT_THAT(Tags(store(), "run_1"),
              UnorderedElementsAre(Pair("team", "vision"), Pair("lr", "0.2")));
  EXPECT_THAT(
      Properties(store(), "run_1"),
      UnorderedElementsAre(Pair("git.commit", "abc"), Pair("azureml.runsource", "experiment")));
}

TEST_P(StoreSuite, ARunWithoutAnyHasNoTagsPropertiesOrParent) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  absl::StatusOr<runyard::v1::Run> run = store().GetRun("run_1");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_THAT(run->tags(), IsEmpty());
  EXPECT_THAT(run->properties(), IsEmpty());
  EXPECT_EQ(run->parent_run_id(), "");
}

TEST_P(StoreSuite, TagsAreSetChangedAndRemoved) {
  runyard::v1::Run run = QueuedRun("run_1");
  (*run.mutable_spec()->mutable_tags())["stage"] = "dev";
  ASSERT_TRUE(store().InsertRun(run).ok());

  ASSERT_TRUE(store().SetTags("run_1", {{"stage", "prod"}, {"owner", "ana"}}, {}).ok());
  EXPECT_THAT(Tags(store(), "run_1"),
              UnorderedElementsAre(Pair("stage", "prod"), Pair("owner", "ana")));
  ASSERT_TRUE(store().SetTags("run_1", {{"empty", ""}}, {"stage", "never-set"}).ok());
  EXPECT_THAT(Tags(store(), "run_1"),
              UnorderedElementsAre(Pair("owner", "ana"), Pair("empty", "")));
}

TEST_P(StoreSuite, ATagBothSetAndRemovedInOneCallIsRemoved) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  ASSERT_TRUE(store().SetTags("run_1", {{"k", "v"}}, {"k"}).ok());
  EXPECT_THAT(Tags(store(), "run_1"), IsEmpty());
}

TEST_P(StoreSuite, TagsAndPropertiesOfAnUnknownRunAreNotFound) {
  EXPECT_EQ(store().SetTags("nope", {{"k", "v"}}, {}).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store().AddProperties("nope", {{"k", "v"}}).code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreSuite, PropertiesAreAddedButNeverChanged) {
  runyard::v1::Run run = QueuedRun("run_1");
  (*run.mutable_spec()->mutable_properties())["git.commit"] = "abc";
  ASSERT_TRUE(store().InsertRun(run).ok());
  ASSERT_TRUE(store().AddProperties("run_1", {{"x", "a"}}).ok());
  // The same value again is no change.
  ASSERT_TRUE(store().AddProperties("run_1", {{"x", "a"}, {"y", "b"}}).ok());

  absl::Status changed = store().AddProperties("run_1", {{"new", "n"}, {"x", "other"}});
  EXPECT_EQ(changed.code(), absl::StatusCode::kFailedPrecondition) << changed;
  EXPECT_THAT(changed.message(), HasSubstr("property 'x' is already set to 'a'"));
  // Nothing of a refused call is written, not even its new keys.
  EXPECT_THAT(Properties(store(), "run_1"),
              UnorderedElementsAre(Pair("git.commit", "abc"), Pair("x", "a"), Pair("y", "b")));
  EXPECT_EQ(store().AddProperties("run_1", {{"git.commit", "def"}}).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(StoreSuite, TagsAndPropertiesArePerRun) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_2")).ok());
  ASSERT_TRUE(store().SetTags("run_1", {{"k", "1"}}, {}).ok());
  ASSERT_TRUE(store().AddProperties("run_2", {{"p", "2"}}).ok());
  EXPECT_THAT(Tags(store(), "run_2"), IsEmpty());
  EXPECT_THAT(Properties(store(), "run_1"), IsEmpty());
}

}  // namespace
}  // namespace runyard::server::test_support
