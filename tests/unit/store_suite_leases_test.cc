// The store suite (tests/unit/store_suite.h), leases: who holds a run, renewals, the queue
// of runs nobody holds, and the leases of runs that have not ended.

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "tests/unit/store_suite.h"

namespace runyard::server::test_support {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

LeaseRecord Lease(const std::string& run_id, const std::string& agent_id, int64_t token,
                  int64_t expiry_ms) {
  LeaseRecord lease;
  lease.run_id = run_id;
  lease.agent_id = agent_id;
  lease.lease_id = "lease-" + run_id + "-" + std::to_string(token);
  lease.fencing_token = token;
  lease.expiry_ms = expiry_ms;
  return lease;
}

std::vector<std::string> RunIds(const std::vector<LeaseRecord>& leases) {
  std::vector<std::string> ids;
  for (const auto& lease : leases) ids.push_back(lease.run_id);
  return ids;
}

TEST_P(StoreSuite, NewRunHasNoLease) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  absl::StatusOr<LeaseRecord> lease = store().GetLease("run_1");
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ(lease->run_id, "run_1");
  EXPECT_EQ(lease->agent_id, "");
  EXPECT_EQ(lease->lease_id, "");
  EXPECT_EQ(lease->fencing_token, 0);
  EXPECT_EQ(lease->expiry_ms, 0);
  EXPECT_EQ(lease->status, runyard::v1::QUEUED);
}

TEST_P(StoreSuite, LeaseOfUnknownRunIsNotFound) {
  EXPECT_EQ(store().GetLease("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreSuite, SetLeaseReadsBackWithTheRunStatus) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  ASSERT_TRUE(store().SetLease(Lease("run_1", "agent-1", 1, 5000)).ok());
  ASSERT_TRUE(store().AppendStatus("run_1", runyard::v1::RUNNING, 2000).ok());

  absl::StatusOr<LeaseRecord> lease = store().GetLease("run_1");
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ(lease->agent_id, "agent-1");
  EXPECT_EQ(lease->lease_id, "lease-run_1-1");
  EXPECT_EQ(lease->fencing_token, 1);
  EXPECT_EQ(lease->expiry_ms, 5000);
  EXPECT_EQ(lease->status, runyard::v1::RUNNING);
  // The run names the agent that holds it.
  absl::StatusOr<runyard::v1::Run> run = store().GetRun("run_1");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->agent_id(), "agent-1");
}

TEST_P(StoreSuite, RenewLeaseMovesOnlyTheExpiry) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  ASSERT_TRUE(store().SetLease(Lease("run_1", "agent-1", 4, 5000)).ok());
  ASSERT_TRUE(store().RenewLease("run_1", 9000).ok());

  absl::StatusOr<LeaseRecord> lease = store().GetLease("run_1");
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ(lease->expiry_ms, 9000);
  EXPECT_EQ(lease->agent_id, "agent-1");
  EXPECT_EQ(lease->lease_id, "lease-run_1-4");
  EXPECT_EQ(lease->fencing_token, 4);
}

TEST_P(StoreSuite, ClearedLeaseKeepsItsFencingToken) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  ASSERT_TRUE(store().SetLease(Lease("run_1", "agent-1", 3, 5000)).ok());
  LeaseRecord cleared;
  cleared.run_id = "run_1";
  cleared.fencing_token = 3;
  ASSERT_TRUE(store().SetLease(cleared).ok());

  absl::StatusOr<LeaseRecord> lease = store().GetLease("run_1");
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ(lease->lease_id, "");
  EXPECT_EQ(lease->agent_id, "");
  EXPECT_EQ(lease->fencing_token, 3);
}

TEST_P(StoreSuite, QueuedRunsOldestFirstThenInSubmitOrder) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("late", "cpu", 3000)).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("tie_first", "cpu", 2000)).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("tie_second", "cpu", 2000)).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("early", "cpu", 1000)).ok());

  absl::StatusOr<std::vector<std::string>> queued = store().QueuedRuns("cpu", 10);
  ASSERT_TRUE(queued.ok()) << queued.status();
  EXPECT_THAT(*queued, ElementsAre("early", "tie_first", "tie_second", "late"));

  absl::StatusOr<std::vector<std::string>> first_two = store().QueuedRuns("cpu", 2);
  ASSERT_TRUE(first_two.ok()) << first_two.status();
  EXPECT_THAT(*first_two, ElementsAre("early", "tie_first"));
}

TEST_P(StoreSuite, QueuedRunsAreThoseOfThePoolNobodyHolds) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("free", "cpu", 1000)).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("other_pool", "gpu", 1000)).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("held", "cpu", 1000)).ok());
  ASSERT_TRUE(store().SetLease(Lease("held", "agent-1", 1, 5000)).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("canceled", "cpu", 1000)).ok());
  ASSERT_TRUE(store().AppendStatus("canceled", runyard::v1::CANCELED, 2000).ok());

  absl::StatusOr<std::vector<std::string>> queued = store().QueuedRuns("cpu", 10);
  ASSERT_TRUE(queued.ok()) << queued.status();
  EXPECT_THAT(*queued, ElementsAre("free"));
  absl::StatusOr<std::vector<std::string>> none = store().QueuedRuns("tpu", 10);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_THAT(*none, IsEmpty());
}

TEST_P(StoreSuite, ActiveLeasesAreLeasedRunsThatHaveNotEnded) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("unleased")).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("handed_out")).ok());  // leased, not started
  ASSERT_TRUE(store().SetLease(Lease("handed_out", "agent-1", 1, 5000)).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("running")).ok());
  ASSERT_TRUE(store().SetLease(Lease("running", "agent-2", 2, 6000)).ok());
  ASSERT_TRUE(store().AppendStatus("running", runyard::v1::RUNNING, 2000).ok());
  for (auto ended : {runyard::v1::COMPLETED, runyard::v1::FAILED, runyard::v1::CANCELED}) {
    const std::string run_id = "ended_" + std::to_string(ended);
    ASSERT_TRUE(store().InsertRun(QueuedRun(run_id)).ok());
    ASSERT_TRUE(store().SetLease(Lease(run_id, "agent-1", 1, 5000)).ok());
    ASSERT_TRUE(store().AppendStatus(run_id, ended, 3000).ok());
  }

  absl::StatusOr<std::vector<LeaseRecord>> active = store().ActiveLeases();
  ASSERT_TRUE(active.ok()) << active.status();
  EXPECT_THAT(RunIds(*active), UnorderedElementsAre("handed_out", "running"));
  for (const LeaseRecord& lease : *active) {
    if (lease.run_id != "running") continue;
    EXPECT_EQ(lease.agent_id, "agent-2");
    EXPECT_EQ(lease.lease_id, "lease-running-2");
    EXPECT_EQ(lease.fencing_token, 2);
    EXPECT_EQ(lease.expiry_ms, 6000);
    EXPECT_EQ(lease.status, runyard::v1::RUNNING);
  }
}

}  // namespace
}  // namespace runyard::server::test_support
