// The store suite (tests/unit/store_suite.h), distributed runs (issue 16): the nodes of a
// run's attempt, their leases, the runs ready to hand out, attempts, agents' addresses.

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "tests/unit/store_suite.h"

namespace runyard::server::test_support {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

GangNodeRecord Node(const std::string& run_id, int rank, int64_t token) {
  GangNodeRecord record;
  record.run_id = run_id;
  record.node.set_node_rank(rank);
  record.node.set_agent_id("agent-" + std::to_string(rank));
  record.node.set_agent_name("a" + std::to_string(rank));
  record.node.set_hostname("host-" + std::to_string(rank));
  record.node.set_address("10.0.0." + std::to_string(rank + 1));
  record.node.set_status(runyard::v1::QUEUED);
  record.lease_id = "lease-" + run_id + "-" + std::to_string(rank) + "-" + std::to_string(token);
  record.fencing_token = token;
  record.expiry_ms = 5000;
  record.assigned_ms = 1000;
  record.base_port = 29500;
  record.port_count = 1;
  return record;
}

LeaseRecord RunLease(const std::string& run_id, int64_t token) {
  LeaseRecord lease;
  lease.run_id = run_id;
  lease.agent_id = "agent-0";
  lease.lease_id = "attempt-" + run_id;
  lease.fencing_token = token;
  lease.expiry_ms = 5000;
  return lease;
}

std::vector<int> Ranks(const std::vector<GangNodeRecord>& nodes) {
  std::vector<int> ranks;
  for (const auto& node : nodes) ranks.push_back(node.node.node_rank());
  return ranks;
}

std::vector<std::string> RunsOf(const std::vector<GangNodeRecord>& nodes) {
  std::vector<std::string> runs;
  for (const auto& node : nodes) runs.push_back(node.run_id + "/" + std::to_string(node.node.node_rank()));
  return runs;
}

TEST_P(StoreSuite, GangNodesReadBackByNodeRankAndAreReplacedWhole) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  ASSERT_TRUE(store().SetGangNodes("run_1", {Node("run_1", 1, 1), Node("run_1", 0, 1)}).ok());
  absl::StatusOr<std::vector<GangNodeRecord>> nodes = store().GangNodes("run_1");
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  EXPECT_THAT(Ranks(*nodes), ElementsAre(0, 1));
  const GangNodeRecord& second = (*nodes)[1];
  EXPECT_EQ(second.node.agent_id(), "agent-1");
  EXPECT_EQ(second.node.agent_name(), "a1");
  EXPECT_EQ(second.node.hostname(), "host-1");
  EXPECT_EQ(second.node.address(), "10.0.0.2");
  EXPECT_EQ(second.node.status(), runyard::v1::QUEUED);
  EXPECT_EQ(second.lease_id, "lease-run_1-1-1");
  EXPECT_EQ(second.fencing_token, 1);
  EXPECT_EQ(second.expiry_ms, 5000);
  EXPECT_EQ(second.assigned_ms, 1000);
  EXPECT_EQ(second.base_port, 29500);
  EXPECT_EQ(second.port_count, 1);

  ASSERT_TRUE(store().SetGangNodes("run_1", {Node("run_1", 0, 2)}).ok());
  nodes = store().GangNodes("run_1");
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  ASSERT_THAT(Ranks(*nodes), ElementsAre(0));
  EXPECT_EQ((*nodes)[0].fencing_token, 2);

  ASSERT_TRUE(store().SetGangNodes("run_1", {}).ok());
  nodes = store().GangNodes("run_1");
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  EXPECT_THAT(*nodes, IsEmpty());
}

TEST_P(StoreSuite, ARunIsReadWithItsNodesAndAttempt) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  ASSERT_TRUE(store().SetGangNodes("run_1", {Node("run_1", 0, 1), Node("run_1", 1, 1)}).ok());
  ASSERT_TRUE(store().SetAttempt("run_1", 2, 0).ok());
  absl::StatusOr<runyard::v1::Run> run = store().GetRun("run_1");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->attempt(), 2);
  ASSERT_EQ(run->nodes_size(), 2);
  EXPECT_EQ(run->nodes(1).node_rank(), 1);
  EXPECT_EQ(run->nodes(1).hostname(), "host-1");
  absl::StatusOr<std::vector<runyard::v1::Run>> listed = store().ListRuns("exp", 10);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].nodes_size(), 2);
  EXPECT_EQ((*listed)[0].attempt(), 2);
}

TEST_P(StoreSuite, UpdateGangNodeKeepsTheReportAndIsNotFoundForAMissingNode) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  ASSERT_TRUE(store().SetGangNodes("run_1", {Node("run_1", 0, 1), Node("run_1", 1, 1)}).ok());
  GangNodeRecord ended = Node("run_1", 1, 1);
  ended.node.set_status(runyard::v1::FAILED);
  ended.node.mutable_error()->set_code("UserError");
  ended.node.mutable_error()->set_message("rank 3 exited with code 3");
  auto* rank = ended.node.add_ranks();
  rank->set_rank(3);
  rank->set_exited(true);
  rank->set_exit_code(3);
  rank->set_ended_unix_ms(1234);
  ended.has_exit_code = true;
  ended.exit_code = 3;
  ended.ended_ms = 2000;
  ended.usage.set_cpu_seconds(1.5);
  ASSERT_TRUE(store().UpdateGangNode(ended).ok());

  absl::StatusOr<std::vector<GangNodeRecord>> nodes = store().GangNodes("run_1");
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  const GangNodeRecord& read = (*nodes)[1];
  EXPECT_EQ(read.node.status(), runyard::v1::FAILED);
  EXPECT_EQ(read.node.error().message(), "rank 3 exited with code 3");
  ASSERT_EQ(read.node.ranks_size(), 1);
  EXPECT_EQ(read.node.ranks(0).ended_unix_ms(), 1234);
  EXPECT_TRUE(read.has_exit_code);
  EXPECT_EQ(read.exit_code, 3);
  EXPECT_EQ(read.ended_ms, 2000);
  EXPECT_DOUBLE_EQ(read.usage.cpu_seconds(), 1.5);
  EXPECT_EQ((*nodes)[0].node.status(), runyard::v1::QUEUED);  // the other node is untouched

  EXPECT_EQ(store().UpdateGangNode(Node("run_1", 5, 1)).code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreSuite, RenewGangNodeMovesOnlyThatNodesExpiry) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  ASSERT_TRUE(store().SetGangNodes("run_1", {Node("run_1", 0, 1), Node("run_1", 1, 1)}).ok());
  ASSERT_TRUE(store().RenewGangNode("run_1", 1, 9000).ok());
  absl::StatusOr<std::vector<GangNodeRecord>> nodes = store().GangNodes("run_1");
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  EXPECT_EQ((*nodes)[0].expiry_ms, 5000);
  EXPECT_EQ((*nodes)[1].expiry_ms, 9000);
}

TEST_P(StoreSuite, FindGangNodeByLeaseFindsTheNodeOrIsNotFound) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  ASSERT_TRUE(store().SetGangNodes("run_1", {Node("run_1", 0, 1), Node("run_1", 1, 1)}).ok());
  absl::StatusOr<GangNodeRecord> found = store().FindGangNodeByLease("lease-run_1-1-1");
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->run_id, "run_1");
  EXPECT_EQ(found->node.node_rank(), 1);
  EXPECT_EQ(store().FindGangNodeByLease("lease-nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store().FindGangNodeByLease("").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreSuite, ActiveGangNodesAreTheCurrentAttemptsOfLeasedRunsThatHaveNotEnded) {
  for (const char* id : {"run_a", "run_b", "run_c", "run_d"}) {
    ASSERT_TRUE(store().InsertRun(QueuedRun(id)).ok());
  }
  // run_a: leased, current attempt; run_b: its nodes are an old attempt's; run_c: ended;
  // run_d: nodes but no lease (queued again).
  ASSERT_TRUE(store().SetLease(RunLease("run_a", 1)).ok());
  ASSERT_TRUE(store().SetGangNodes("run_a", {Node("run_a", 0, 1), Node("run_a", 1, 1)}).ok());
  ASSERT_TRUE(store().SetLease(RunLease("run_b", 2)).ok());
  ASSERT_TRUE(store().SetGangNodes("run_b", {Node("run_b", 0, 1)}).ok());
  ASSERT_TRUE(store().SetLease(RunLease("run_c", 1)).ok());
  ASSERT_TRUE(store().SetGangNodes("run_c", {Node("run_c", 0, 1)}).ok());
  ASSERT_TRUE(store().AppendStatus("run_c", runyard::v1::COMPLETED, 3000).ok());
  ASSERT_TRUE(store().SetGangNodes("run_d", {Node("run_d", 0, 0)}).ok());

  absl::StatusOr<std::vector<GangNodeRecord>> active = store().ActiveGangNodes();
  ASSERT_TRUE(active.ok()) << active.status();
  EXPECT_THAT(RunsOf(*active), ElementsAre("run_a/0", "run_a/1"));
}

TEST_P(StoreSuite, ReadyRunsLeaveOutRunsWaitingForTheirRetryTime) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1", "cpu", 1000)).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_2", "cpu", 2000)).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_3", "gpu", 3000)).ok());
  ASSERT_TRUE(store().SetAttempt("run_1", 1, 10'000).ok());

  absl::StatusOr<std::vector<std::string>> ready = store().ReadyRuns("cpu", 9'999, 10);
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_THAT(*ready, ElementsAre("run_2"));
  ready = store().ReadyRuns("cpu", 10'000, 10);
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_THAT(*ready, ElementsAre("run_1", "run_2"));
  ready = store().ReadyRuns("cpu", 10'000, 1);
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_THAT(*ready, ElementsAre("run_1"));
  // QueuedRuns knows nothing of retry times: every queued run of the pool.
  absl::StatusOr<std::vector<std::string>> queued = store().QueuedRuns("cpu", 10);
  ASSERT_TRUE(queued.ok()) << queued.status();
  EXPECT_THAT(*queued, ElementsAre("run_1", "run_2"));
}

TEST_P(StoreSuite, AnAgentsAddressIsKeptAndRegisteredAgain) {
  AgentRecord agent;
  agent.agent_id = "agent-1";
  agent.name = "a";
  agent.pool = "cpu";
  agent.slots = 1;
  agent.address = "10.1.2.3";
  agent.registered_ms = 1000;
  ASSERT_TRUE(store().UpsertAgent(agent).ok());
  absl::StatusOr<std::vector<AgentRecord>> agents = store().ListAgents("cpu");
  ASSERT_TRUE(agents.ok()) << agents.status();
  ASSERT_EQ(agents->size(), 1u);
  EXPECT_EQ((*agents)[0].address, "10.1.2.3");

  agent.address = "10.9.9.9";
  ASSERT_TRUE(store().UpsertAgent(agent).ok());
  agents = store().ListAgents("cpu");
  ASSERT_TRUE(agents.ok()) << agents.status();
  EXPECT_EQ((*agents)[0].address, "10.9.9.9");
}

TEST_P(StoreSuite, GangNodesSetInARolledBackTransactionAreNotKept) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  absl::Status result = store().InTransaction([&](Store& txn) -> absl::Status {
    if (absl::Status s = txn.SetGangNodes("run_1", {Node("run_1", 0, 1)}); !s.ok()) return s;
    return absl::AbortedError("roll back");
  });
  EXPECT_EQ(result.code(), absl::StatusCode::kAborted);
  absl::StatusOr<std::vector<GangNodeRecord>> nodes = store().GangNodes("run_1");
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  EXPECT_THAT(*nodes, IsEmpty());
}

TEST_P(StoreSuite, EachNodesRecordChannelHasItsOwnOffset) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  ASSERT_TRUE(store().SetNodeRecordsIngested("run_1", 1, 70).ok());
  ASSERT_TRUE(store().SetNodeRecordsIngested("run_1", 2, 90).ok());
  ASSERT_TRUE(store().SetNodeRecordsIngested("run_1", 0, 10).ok());  // the run's own channel
  EXPECT_EQ(*store().RecordsIngested("run_1"), 10);
  EXPECT_EQ(*store().NodeRecordsIngested("run_1", 0), 10);
  EXPECT_EQ(*store().NodeRecordsIngested("run_1", 1), 70);
  EXPECT_EQ(*store().NodeRecordsIngested("run_1", 2), 90);
  EXPECT_EQ(*store().NodeRecordsIngested("run_1", 3), 0);
  ASSERT_TRUE(store().SetNodeRecordsIngested("run_1", 1, 80).ok());
  EXPECT_EQ(*store().NodeRecordsIngested("run_1", 1), 80);
  EXPECT_EQ(store().SetNodeRecordsIngested("nope", 1, 1).code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace runyard::server::test_support
