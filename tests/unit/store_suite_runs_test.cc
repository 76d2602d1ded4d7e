// The store suite (tests/unit/store_suite.h), runs: what InsertRun keeps, GetRun, RunExists,
// ListRuns' order, limit and filter, status history, outcome, usage and counts.

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "tests/unit/store_suite.h"

namespace runyard::server::test_support {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::string> Ids(const std::vector<runyard::v1::Run>& runs) {
  std::vector<std::string> ids;
  for (const auto& run : runs) ids.push_back(run.run_id());
  return ids;
}

std::vector<runyard::v1::RunStatus> Statuses(const runyard::v1::Run& run) {
  std::vector<runyard::v1::RunStatus> statuses;
  for (const auto& event : run.history()) statuses.push_back(event.status());
  return statuses;
}

TEST_P(StoreSuite, InsertedRunReadsBack) {
  runyard::v1::Run run = QueuedRun("run_1", "gpu", 1234, "mnist");
  (*run.mutable_spec()->mutable_tags())["lr"] = "0.1";
  ASSERT_TRUE(store().InsertRun(run).ok());

  absl::StatusOr<runyard::v1::Run> got = store().GetRun("run_1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->run_id(), "run_1");
  EXPECT_EQ(got->experiment(), "mnist");
  EXPECT_EQ(got->target(), "gpu");
  EXPECT_EQ(got->status(), runyard::v1::QUEUED);
  EXPECT_EQ(got->created_unix_ms(), 1234);
  EXPECT_EQ(got->spec().script(), "train.py");
  EXPECT_EQ(got->spec().tags().at("lr"), "0.1");
  ASSERT_EQ(got->history_size(), 1);
  EXPECT_EQ(got->history(0).status(), runyard::v1::QUEUED);
  EXPECT_EQ(got->history(0).time_unix_ms(), 1234);
  // What a run gets later starts empty.
  EXPECT_FALSE(got->has_exit_code());
  EXPECT_EQ(got->error().code(), "");
  EXPECT_EQ(got->agent_id(), "");
  EXPECT_FALSE(got->usage().measured());
}

TEST_P(StoreSuite, UnknownRunIsNotFound) {
  EXPECT_EQ(store().GetRun("nope").status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<bool> exists = store().RunExists("nope");
  ASSERT_TRUE(exists.ok()) << exists.status();
  EXPECT_FALSE(*exists);
}

TEST_P(StoreSuite, RunExistsOnceInserted) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  absl::StatusOr<bool> exists = store().RunExists("run_1");
  ASSERT_TRUE(exists.ok()) << exists.status();
  EXPECT_TRUE(*exists);
}

TEST_P(StoreSuite, SecondInsertOfAnIdFailsAndLeavesTheFirst) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1", "cpu", 1000)).ok());
  runyard::v1::Run again = QueuedRun("run_1", "gpu", 2000);
  again.add_history()->set_status(runyard::v1::RUNNING);
  EXPECT_FALSE(store().InsertRun(again).ok());

  absl::StatusOr<runyard::v1::Run> got = store().GetRun("run_1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->target(), "cpu");
  EXPECT_THAT(Statuses(*got), ElementsAre(runyard::v1::QUEUED));  // none of the second's
}

TEST_P(StoreSuite, ListRunsNewestFirstThenLaterSubmitted) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("old", "cpu", 1000)).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("tie_first", "cpu", 2000)).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("tie_second", "cpu", 2000)).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("new", "cpu", 3000)).ok());

  absl::StatusOr<std::vector<runyard::v1::Run>> runs = store().ListRuns("", 10);
  ASSERT_TRUE(runs.ok()) << runs.status();
  EXPECT_THAT(Ids(*runs), ElementsAre("new", "tie_second", "tie_first", "old"));
  // With their history.
  EXPECT_THAT(Statuses(runs->front()), ElementsAre(runyard::v1::QUEUED));
}

TEST_P(StoreSuite, ListRunsStopsAtTheLimit) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store().InsertRun(QueuedRun("run_" + std::to_string(i), "cpu", 1000 + i)).ok());
  }
  absl::StatusOr<std::vector<runyard::v1::Run>> runs = store().ListRuns("", 2);
  ASSERT_TRUE(runs.ok()) << runs.status();
  EXPECT_THAT(Ids(*runs), ElementsAre("run_4", "run_3"));
}

TEST_P(StoreSuite, ListRunsWithoutALimitGivesFifty) {
  for (int i = 0; i < 51; ++i) {
    ASSERT_TRUE(store().InsertRun(QueuedRun("run_" + std::to_string(i), "cpu", 1000 + i)).ok());
  }
  absl::StatusOr<std::vector<runyard::v1::Run>> runs = store().ListRuns("", 0);
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->size(), 50u);
  EXPECT_EQ(runs->front().run_id(), "run_50");
  EXPECT_EQ(runs->back().run_id(), "run_1");
}

TEST_P(StoreSuite, ListRunsOfOneExperiment) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("a1", "cpu", 1000, "a")).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("b1", "cpu", 2000, "b")).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("a2", "cpu", 3000, "a")).ok());

  absl::StatusOr<std::vector<runyard::v1::Run>> of_a = store().ListRuns("a", 10);
  ASSERT_TRUE(of_a.ok()) << of_a.status();
  EXPECT_THAT(Ids(*of_a), ElementsAre("a2", "a1"));
  absl::StatusOr<std::vector<runyard::v1::Run>> of_none = store().ListRuns("c", 10);
  ASSERT_TRUE(of_none.ok()) << of_none.status();
  EXPECT_THAT(*of_none, IsEmpty());
}

TEST_P(StoreSuite, AppendStatusMovesTheRunAndKeepsHistoryInOrder) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1", "cpu", 1000)).ok());
  ASSERT_TRUE(store().AppendStatus("run_1", runyard::v1::PREPARING, 2000).ok());
  // Two transitions in one millisecond stay in the order they were written.
  ASSERT_TRUE(store().AppendStatus("run_1", runyard::v1::STARTING, 3000).ok());
  ASSERT_TRUE(store().AppendStatus("run_1", runyard::v1::RUNNING, 3000).ok());
  ASSERT_TRUE(store().AppendStatus("run_1", runyard::v1::COMPLETED, 2500).ok());

  absl::StatusOr<runyard::v1::Run> got = store().GetRun("run_1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->status(), runyard::v1::COMPLETED);
  EXPECT_THAT(Statuses(*got),
              ElementsAre(runyard::v1::QUEUED, runyard::v1::PREPARING, runyard::v1::STARTING,
                          runyard::v1::RUNNING, runyard::v1::COMPLETED));
  EXPECT_EQ(got->history(4).time_unix_ms(), 2500);
}

TEST_P(StoreSuite, HistoryIsPerRun) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_2")).ok());
  ASSERT_TRUE(store().AppendStatus("run_2", runyard::v1::CANCELED, 2000).ok());
  absl::StatusOr<runyard::v1::Run> first = store().GetRun("run_1");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->status(), runyard::v1::QUEUED);
  EXPECT_THAT(Statuses(*first), ElementsAre(runyard::v1::QUEUED));
}

TEST_P(StoreSuite, OutcomeReadsBack) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  runyard::v1::RunError error;
  error.set_code("UserError");
  error.set_message("exit code 3");
  error.set_details("Traceback ...");
  ASSERT_TRUE(store().SetOutcome("run_1", /*has_exit_code=*/true, 3, error).ok());

  absl::StatusOr<runyard::v1::Run> got = store().GetRun("run_1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(got->has_exit_code());
  EXPECT_EQ(got->exit_code(), 3);
  EXPECT_EQ(got->error().code(), "UserError");
  EXPECT_EQ(got->error().message(), "exit code 3");
  EXPECT_EQ(got->error().details(), "Traceback ...");

  // A later outcome replaces it.
  ASSERT_TRUE(store().SetOutcome("run_1", false, 0, runyard::v1::RunError()).ok());
  got = store().GetRun("run_1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->has_exit_code());
  EXPECT_EQ(got->error().code(), "");
}

TEST_P(StoreSuite, UsageReadsBack) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  runyard::v1::RunUsage usage;
  usage.set_cpu_seconds(1.5);
  usage.set_peak_memory_bytes(64 << 20);
  usage.set_peak_pids(7);
  usage.set_measured(true);
  ASSERT_TRUE(store().SetUsage("run_1", usage).ok());

  absl::StatusOr<runyard::v1::Run> got = store().GetRun("run_1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_DOUBLE_EQ(got->usage().cpu_seconds(), 1.5);
  EXPECT_EQ(got->usage().peak_memory_bytes(), 64 << 20);
  EXPECT_EQ(got->usage().peak_pids(), 7);
  EXPECT_TRUE(got->usage().measured());
}

TEST_P(StoreSuite, CountsRunsByTargetAndStatus) {
  absl::StatusOr<std::vector<RunCount>> empty = store().CountRuns();
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_THAT(*empty, IsEmpty());

  ASSERT_TRUE(store().InsertRun(QueuedRun("c1", "cpu")).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("c2", "cpu")).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("c3", "cpu")).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("g1", "gpu")).ok());
  ASSERT_TRUE(store().AppendStatus("c3", runyard::v1::RUNNING, 2000).ok());

  absl::StatusOr<std::vector<RunCount>> counts = store().CountRuns();
  ASSERT_TRUE(counts.ok()) << counts.status();
  std::vector<std::string> rows;
  for (const RunCount& count : *counts) {
    rows.push_back(count.target + "/" + std::to_string(count.status) + "=" +
                   std::to_string(count.count));
  }
  // Ordered by target, then status.
  EXPECT_THAT(rows, ElementsAre("cpu/2=2", "cpu/5=1", "gpu/2=1"));
}

}  // namespace
}  // namespace runyard::server::test_support
