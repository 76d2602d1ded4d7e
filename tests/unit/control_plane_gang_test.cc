// Tests for distributed runs in server/control_plane.h (issue 16): gang hand-out to N
// agents at once, reservations and backfill, ports, node leases, local runs' nodes,
// watching another log, agents' addresses. One fate and the start deadline are in
// control_plane_gang_fate_test.cc; the fixture is tests/unit/gang_test_fixture.h.

#include <string>
#include <vector>

#include "server/control_plane_internal.h"
#include "server/gang_rules.h"
#include "server/peer_address.h"
#include "tests/unit/gang_test_fixture.h"

namespace runyard::server {
namespace {

using gang_testing::GangTest;
using runyard::v1::RunStatus;
using test_support::BackgroundPoll;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// ------------------------------------------------------------------ hand-out

TEST_F(GangTest, ATwoNodeRunIsHandedToTwoAgentsAtOnceWithItsPlacement) {
  const std::string a = RegisterNode("a", "10.0.0.1");
  const std::string b = RegisterNode("b", "10.0.0.2");
  const std::string run_id = SubmitGang(2);
  const std::vector<runyard::v1::PollResponse> answers = PollTogether({a, b});
  ASSERT_EQ(answers[0].assignments_size(), 1);
  ASSERT_EQ(answers[1].assignments_size(), 1);
  const runyard::v1::Assignment& first = answers[0].assignments(0);
  const runyard::v1::Assignment& second = answers[1].assignments(0);
  EXPECT_EQ(first.lease().run_id(), run_id);
  EXPECT_EQ(first.spec().distributed_job_config().pytorch().node_count(), 2);
  EXPECT_EQ(first.gang().node_rank(), 0);  // the first to wait is node 0
  EXPECT_EQ(second.gang().node_rank(), 1);
  EXPECT_NE(first.lease().lease_id(), second.lease().lease_id());
  EXPECT_EQ(first.lease().fencing_token(), second.lease().fencing_token());
  EXPECT_EQ(first.gang().base_port(), 29500);
  EXPECT_EQ(second.gang().base_port(), 29500);
  EXPECT_EQ(first.gang().port_count(), 1);
  ASSERT_EQ(first.gang().nodes_size(), 2);
  EXPECT_EQ(first.gang().nodes(0).agent_id(), a);
  EXPECT_EQ(first.gang().nodes(0).address(), "10.0.0.1");
  EXPECT_EQ(first.gang().nodes(0).hostname(), "host-a");
  EXPECT_EQ(first.gang().nodes(1).agent_id(), b);
  EXPECT_EQ(first.gang().nodes(1).address(), "10.0.0.2");
  EXPECT_EQ(second.gang().nodes(0).address(), "10.0.0.1");

  const runyard::v1::Run run = GetRun(run_id);
  EXPECT_EQ(run.status(), runyard::v1::QUEUED);  // handed out, not started
  EXPECT_EQ(run.attempt(), 1);
  EXPECT_EQ(run.status_detail(), "");
  ASSERT_EQ(run.nodes_size(), 2);
  EXPECT_EQ(run.nodes(1).agent_id(), b);
  EXPECT_EQ(run.nodes(1).agent_name(), "b");
  EXPECT_EQ(run.nodes(1).status(), runyard::v1::QUEUED);
}

TEST_F(GangTest, SubmitFillsTheDistributedDefaultsAndRefusesABadConfig) {
  runyard::v1::RunSpec spec = Spec();
  spec.mutable_distributed_job_config()->mutable_pytorch()->set_node_count(2);
  absl::StatusOr<runyard::v1::Run> run = Plane().Submit(spec);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->spec().distributed_job_config().pytorch().process_count(), 2);

  absl::StatusOr<runyard::v1::Run> refused = Plane().Submit(GangSpec(2, 5));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("divisible"));
}

TEST_F(GangTest, WithOneAgentItWaitsSayingSoAndStartsWhenASecondAgentPolls) {
  const std::string a = RegisterNode("a");
  const std::string run_id = SubmitGang(2);
  EXPECT_EQ(GetRun(run_id).status_detail(), "waiting for nodes: 0 of 2");

  BackgroundPoll first(&Plane(), PollRequest(a, 1, 5000));
  first.WaitUntilWaiting();
  const runyard::v1::Run waiting = GetRun(run_id);
  EXPECT_EQ(waiting.status(), runyard::v1::QUEUED);
  EXPECT_EQ(waiting.status_detail(), "waiting for nodes: 1 of 2");
  EXPECT_THAT(waiting.nodes(), IsEmpty());

  const std::string b = RegisterNode("b");
  absl::StatusOr<runyard::v1::PollResponse> second = Poll(b, 1, 5000);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->assignments_size(), 1);
  absl::StatusOr<runyard::v1::PollResponse> answered = first.Join();
  ASSERT_TRUE(answered.ok()) << answered.status();
  ASSERT_EQ(answered->assignments_size(), 1);
  EXPECT_EQ(answered->assignments(0).lease().run_id(), run_id);
  EXPECT_EQ(GetRun(run_id).status_detail(), "");
}

TEST_F(GangTest, ALaterSingleRunDoesNotTakeTheReservedAgentButAnUnreservedOne) {
  const std::string a = RegisterNode("a");
  const std::string b = RegisterNode("b");
  const std::string c = RegisterNode("c");
  const std::string gang = SubmitGang(2);
  const std::string single = SubmitRun();

  // a is reserved for the gang at the head of the queue: the single run behind it waits.
  absl::StatusOr<runyard::v1::PollResponse> reserved = Poll(a, 1, 200);
  ASSERT_TRUE(reserved.ok()) << reserved.status();
  EXPECT_THAT(reserved->assignments(), IsEmpty());
  EXPECT_EQ(StatusOf(single), runyard::v1::QUEUED);

  // a and b take the gang; c, which nobody reserved, takes the single run.
  const std::vector<runyard::v1::PollResponse> answers = PollTogether({a, b, c});
  ASSERT_EQ(answers[0].assignments_size(), 1);
  EXPECT_EQ(answers[0].assignments(0).lease().run_id(), gang);
  ASSERT_EQ(answers[1].assignments_size(), 1);
  EXPECT_EQ(answers[1].assignments(0).lease().run_id(), gang);
  ASSERT_EQ(answers[2].assignments_size(), 1);
  EXPECT_EQ(answers[2].assignments(0).lease().run_id(), single);
  EXPECT_FALSE(answers[2].assignments(0).has_gang());
  EXPECT_EQ(GetRun(single).agent_id(), c);
}

TEST_F(GangTest, TwoGangsOnThreeAgentsRunOneAfterTheOther) {
  const std::string a = RegisterNode("a");
  const std::string b = RegisterNode("b");
  const std::string c = RegisterNode("c");
  const std::string first = SubmitGang(2);
  const std::string second = SubmitGang(2);

  const std::vector<runyard::v1::Lease> first_nodes = HandOut({a, b});
  ASSERT_EQ(first_nodes[0].run_id(), first);
  // c alone cannot start the second gang: reserved for it, it waits.
  absl::StatusOr<runyard::v1::PollResponse> alone = Poll(c, 1, 200);
  ASSERT_TRUE(alone.ok()) << alone.status();
  EXPECT_THAT(alone->assignments(), IsEmpty());
  EXPECT_EQ(GetRun(second).status_detail(), "waiting for nodes: 1 of 2");

  AllRunning(first_nodes);
  EXPECT_EQ(StatusOf(first), runyard::v1::RUNNING);
  for (const auto& lease : first_nodes) ASSERT_TRUE(Ended(lease, runyard::v1::COMPLETED).ok());
  EXPECT_EQ(StatusOf(first), runyard::v1::COMPLETED);

  const std::vector<runyard::v1::Lease> second_nodes = HandOut({c, a});
  EXPECT_EQ(second_nodes[0].run_id(), second);
  EXPECT_EQ(second_nodes[1].run_id(), second);
  const runyard::v1::Run run = GetRun(second);
  ASSERT_EQ(run.nodes_size(), 2);
  EXPECT_EQ(run.nodes(0).agent_id(), c);
  EXPECT_EQ(run.nodes(1).agent_id(), a);
}

TEST_F(GangTest, GangsRunningAtOnceGetPortRangesThatDoNotOverlap) {
  const std::string a = RegisterNode("a");
  const std::string b = RegisterNode("b");
  const std::string c = RegisterNode("c");
  const std::string d = RegisterNode("d");
  runyard::v1::RunSpec tensorflow = Spec();
  auto* tf = tensorflow.mutable_distributed_job_config()->mutable_tensorflow();
  tf->set_worker_count(2);
  tf->set_parameter_server_count(1);
  tf->set_node_count(2);
  ASSERT_TRUE(Plane().Submit(tensorflow).ok());  // 3 tasks: 3 ports
  SubmitGang(2);                                 // PyTorch: 1 port

  std::vector<runyard::v1::PollResponse> answers = PollTogether({a, b});
  ASSERT_EQ(answers[0].assignments_size(), 1);
  EXPECT_EQ(answers[0].assignments(0).gang().base_port(), 29500);
  EXPECT_EQ(answers[0].assignments(0).gang().port_count(), 3);
  answers = PollTogether({c, d});
  ASSERT_EQ(answers[0].assignments_size(), 1);
  EXPECT_EQ(answers[0].assignments(0).gang().base_port(), 29503);
  EXPECT_EQ(answers[0].assignments(0).gang().port_count(), 1);
}

TEST_F(GangTest, AGangWaitsForAPortRangeWhenOthersHoldEveryPort) {
  ControlPlaneOptions options = DefaultOptions();
  options.gang_port_first = 29500;
  options.gang_port_last = 29500;
  Plane(options);
  const std::string a = RegisterNode("a");
  const std::string b = RegisterNode("b");
  const std::string c = RegisterNode("c");
  const std::string d = RegisterNode("d");
  SubmitGang(2);
  const std::string second = SubmitGang(2);
  HandOut({a, b});
  BackgroundPoll waiting(&Plane(), PollRequest(c, 1, 200));
  waiting.WaitUntilWaiting();
  absl::StatusOr<runyard::v1::PollResponse> answer = Poll(d, 1, 200);
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_THAT(answer->assignments(), IsEmpty());
  EXPECT_THAT(GetRun(second).status_detail(), HasSubstr("waiting for a free port range"));
  ASSERT_TRUE(waiting.Join().ok());
}

TEST_F(GangTest, ANodesLeaseRenewsOnItsPollsAndAppendsAreTaken) {
  const std::string a = RegisterNode("a");
  const std::string b = RegisterNode("b");
  SubmitGang(2);
  const std::vector<runyard::v1::Lease> leases = HandOut({a, b});
  clock_.Advance(std::chrono::seconds(20));
  absl::StatusOr<runyard::v1::PollResponse> renewed = Poll(a, 0, 0, {leases[0]});
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_THAT(renewed->lost_run_ids(), IsEmpty());
  ASSERT_TRUE(Report(leases[1], runyard::v1::PREPARING).ok());  // a report renews too
  clock_.Advance(std::chrono::seconds(20));
  Plane().ReapExpiredLeasesNow();
  const runyard::v1::Run run = GetRun(leases[0].run_id());
  EXPECT_EQ(run.status(), runyard::v1::QUEUED);
  EXPECT_EQ(run.nodes(0).status(), runyard::v1::QUEUED);
  EXPECT_EQ(run.nodes(1).status(), runyard::v1::PREPARING);

  runyard::v1::AppendRequest append;
  *append.mutable_lease() = leases[1];
  append.set_path("user_logs/std_log_node_1.txt");
  append.set_data("hello from node 1\n");
  absl::StatusOr<runyard::v1::AppendResponse> appended = Plane().Append(append);
  ASSERT_TRUE(appended.ok()) << appended.status();
  EXPECT_EQ(appended->committed_size(), 18);
}

TEST_F(GangTest, TheRunIsAsFarAsItsLeastAdvancedNodeUntilAllAreRunning) {
  const std::string a = RegisterNode("a");
  const std::string b = RegisterNode("b");
  const std::string run_id = SubmitGang(2);
  const std::vector<runyard::v1::Lease> leases = HandOut({a, b});
  ASSERT_TRUE(Report(leases[0], runyard::v1::RUNNING).ok());
  EXPECT_EQ(StatusOf(run_id), runyard::v1::QUEUED);
  ASSERT_TRUE(Report(leases[1], runyard::v1::STARTING).ok());
  EXPECT_EQ(StatusOf(run_id), runyard::v1::STARTING);
  ASSERT_TRUE(Report(leases[1], runyard::v1::RUNNING).ok());
  EXPECT_EQ(StatusOf(run_id), runyard::v1::RUNNING);
  ASSERT_TRUE(Ended(leases[1], runyard::v1::COMPLETED).ok());
  EXPECT_EQ(StatusOf(run_id), runyard::v1::RUNNING);  // node 0 still runs
  absl::StatusOr<runyard::v1::PollResponse> still_held = Poll(a, 0, 0, {leases[0]});
  ASSERT_TRUE(still_held.ok()) << still_held.status();
  EXPECT_THAT(still_held->lost_run_ids(), IsEmpty());
  EXPECT_THAT(still_held->cancel_run_ids(), IsEmpty());
  ASSERT_TRUE(Report(leases[0], runyard::v1::FINALIZING).ok());
  EXPECT_EQ(StatusOf(run_id), runyard::v1::FINALIZING);
  ASSERT_TRUE(Ended(leases[0], runyard::v1::COMPLETED).ok());
  const runyard::v1::Run run = GetRun(run_id);
  EXPECT_EQ(run.status(), runyard::v1::COMPLETED);
  EXPECT_EQ(run.nodes(0).status(), runyard::v1::COMPLETED);
  EXPECT_EQ(run.nodes(1).status(), runyard::v1::COMPLETED);
  // An ended node's lease is refused.
  EXPECT_EQ(Report(leases[1], runyard::v1::RUNNING).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(GangTest, EveryNodesRunRecordsAreIngestedIntoTheOneRun) {
  const std::string a = RegisterNode("a");
  const std::string b = RegisterNode("b");
  const std::string run_id = SubmitGang(2);
  const std::vector<runyard::v1::Lease> leases = HandOut({a, b});
  AllRunning(leases);
  const auto send = [&](const runyard::v1::Lease& lease, const std::string& path,
                        const std::string& line) {
    runyard::v1::AppendRequest append;
    *append.mutable_lease() = lease;
    append.set_path(path);
    append.set_data(line);
    return Plane().Append(append).status();
  };
  const std::string node0 = R"({"k":"metric","n":"loss","type":"scalar","v":[0.5],"t":1.0})"
                            "\n";
  const std::string node1 = R"({"k":"metric","n":"loss","type":"scalar","v":[0.25],"t":2.0})"
                            "\n";
  ASSERT_TRUE(send(leases[0], "system_logs/run_records.jsonl", node0).ok());
  ASSERT_TRUE(send(leases[1], "system_logs/node_1/run_records.jsonl", node1).ok());
  // A resend of node 1's bytes is no new record: its channel keeps its own offset.
  ASSERT_TRUE(send(leases[1], "system_logs/node_1/run_records.jsonl", node1).ok());

  runyard::v1::GetMetricsRequest request;
  request.set_run_id(run_id);
  request.set_name("loss");
  request.set_with_values(true);
  absl::StatusOr<runyard::v1::GetMetricsResponse> metrics = Plane().GetMetrics(request);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  ASSERT_EQ(metrics->series_size(), 1);
  EXPECT_EQ(metrics->series(0).count(), 2);
}

TEST(RecordChannelTest, IsTheRunsOrANodesRecordFile) {
  EXPECT_EQ(RecordChannelNode("system_logs/run_records.jsonl"), 0);
  EXPECT_EQ(RecordChannelNode("system_logs/node_1/run_records.jsonl"), 1);
  EXPECT_EQ(RecordChannelNode("system_logs/node_12/run_records.jsonl"), 12);
  EXPECT_EQ(RecordChannelNode("system_logs/node_0/run_records.jsonl"), std::nullopt);
  EXPECT_EQ(RecordChannelNode("system_logs/node_x/run_records.jsonl"), std::nullopt);
  EXPECT_EQ(RecordChannelNode("system_logs/node_01/run_records.jsonl"), std::nullopt);
  EXPECT_EQ(RecordChannelNode("outputs/node_1/run_records.jsonl"), std::nullopt);
  EXPECT_EQ(RecordChannelNode("user_logs/std_log.txt"), std::nullopt);
}

// ------------------------------------------------------------------ local runs, watch, agents

TEST_F(GangTest, ALocalDistributedRunsRanksAreStoredAsItsNodes) {
  ControlPlaneOptions options = DefaultOptions();
  options.accepts_local_runs = true;
  Plane(options);
  runyard::v1::RunSpec spec = GangSpec(2, 4);
  spec.set_compute_target("local");
  absl::StatusOr<runyard::v1::Run> submitted = Plane().Submit(spec);
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  absl::StatusOr<runyard::v1::Lease> lease = Plane().LeaseToSelf(submitted->run_id(), "local:1");
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE(Report(*lease, runyard::v1::RUNNING).ok());
  const int64_t t = clock_.NowUnixMs();
  ASSERT_TRUE(Ended(*lease, runyard::v1::FAILED, "UserError",
                    "rank 3 (node 1, host localhost) exited with code 3",
                    {Rank(0, 0, 0, 0, t), Rank(1, 0, 0, 0, t), Rank(3, 1, 3, 0, t),
                     Rank(2, 1, 0, 15, t + 10)})
                  .ok());
  const runyard::v1::Run run = GetRun(submitted->run_id());
  EXPECT_EQ(run.status(), runyard::v1::FAILED);
  ASSERT_EQ(run.nodes_size(), 2);
  EXPECT_EQ(run.nodes(0).node_rank(), 0);
  EXPECT_EQ(run.nodes(0).status(), runyard::v1::COMPLETED);
  EXPECT_EQ(run.nodes(0).ranks_size(), 2);
  EXPECT_EQ(run.nodes(1).status(), runyard::v1::FAILED);
  ASSERT_EQ(run.nodes(1).ranks_size(), 2);
  EXPECT_EQ(run.nodes(1).ranks(0).rank(), 2);
  EXPECT_EQ(run.nodes(1).error().message(), "rank 3 (node 1, host localhost) exited with code 3");
}

TEST_F(GangTest, WatchStreamsTheLogItIsAskedFor) {
  const std::string run_id = SubmitRun();
  ASSERT_TRUE(files_->Append(run_id, "user_logs/std_log_process_1.txt", 0, "rank one\n", false).ok());
  ASSERT_TRUE(files_->Append(run_id, "user_logs/std_log.txt", 0, "main\n", false).ok());
  ASSERT_TRUE(Plane().Cancel(run_id).ok());  // ended: the watch sends what there is and ends

  runyard::v1::WatchRequest request;
  request.set_run_id(run_id);
  request.set_log_path("user_logs/std_log_process_1.txt");
  std::string log;
  absl::StatusOr<runyard::v1::Run> watched =
      Plane().Watch(request, [&](const runyard::v1::WatchEvent& event) {
        log += event.log_bytes();
        return true;
      });
  ASSERT_TRUE(watched.ok()) << watched.status();
  EXPECT_EQ(log, "rank one\n");
}

TEST_F(GangTest, WatchRefusesALogPathOutsideUserLogs) {
  const std::string run_id = SubmitRun();
  for (const char* path : {"system_logs/run_records.jsonl", "user_logs/../outputs/x",
                           "user_logs/", "/etc/passwd", "user_logs//x"}) {
    runyard::v1::WatchRequest request;
    request.set_run_id(run_id);
    request.set_log_path(path);
    absl::StatusOr<runyard::v1::Run> watched =
        Plane().Watch(request, [](const runyard::v1::WatchEvent&) { return true; });
    ASSERT_FALSE(watched.ok()) << path;
    EXPECT_EQ(watched.status().code(), absl::StatusCode::kInvalidArgument) << path;
    EXPECT_THAT(std::string(watched.status().message()), HasSubstr("log_path")) << path;
  }
}

TEST_F(GangTest, RegisterKeepsTheAgentsAddress) {
  RegisterNode("a", "192.168.7.1");
  absl::StatusOr<std::vector<AgentRecord>> agents = store_->ListAgents("cpu");
  ASSERT_TRUE(agents.ok()) << agents.status();
  ASSERT_EQ(agents->size(), 1u);
  EXPECT_EQ((*agents)[0].address, "192.168.7.1");
}

TEST(PeerAddressTest, IsTheIpOfAGrpcPeer) {
  EXPECT_EQ(PeerAddress("ipv4:127.0.0.1:5555"), "127.0.0.1");
  EXPECT_EQ(PeerAddress("ipv4:10.20.30.40:41234"), "10.20.30.40");
  EXPECT_EQ(PeerAddress("ipv6:[::1]:5555"), "::1");
  EXPECT_EQ(PeerAddress("ipv6:%5Bfd00::2%5D:5555"), "fd00::2");
  EXPECT_EQ(PeerAddress("ipv6:[fe80::1%25veth0]:5555"), "fe80::1%veth0");
  EXPECT_EQ(PeerAddress("unix:/tmp/socket"), "");
  EXPECT_EQ(PeerAddress(""), "");
}

TEST_F(GangTest, ListAgentsShowsTheRunOnEveryNodesAgent) {
  const std::string a = RegisterNode("a");
  const std::string b = RegisterNode("b");
  const std::string run_id = SubmitGang(2);
  HandOut({a, b});
  absl::StatusOr<std::vector<runyard::v1::AgentInfo>> agents = Plane().ListAgents("cpu", false);
  ASSERT_TRUE(agents.ok()) << agents.status();
  ASSERT_EQ(agents->size(), 2u);
  for (const auto& agent : *agents) {
    EXPECT_THAT(agent.active_run_ids(), ElementsAre(run_id)) << agent.name();
  }
}

// ------------------------------------------------------------------ rules

TEST(GangRulesTest, FreePortRangeFindsTheFirstGapThatFits) {
  std::vector<GangNodeRecord> active(2);
  active[0].base_port = 100;
  active[0].port_count = 2;  // 100, 101
  active[1].base_port = 103;
  active[1].port_count = 1;  // 103
  EXPECT_EQ(FreePortRange(active, 1, 100, 110), 102);
  EXPECT_EQ(FreePortRange(active, 2, 100, 110), 104);
  EXPECT_EQ(FreePortRange(active, 7, 100, 110), 104);
  EXPECT_EQ(FreePortRange(active, 8, 100, 110), std::nullopt);
  EXPECT_EQ(FreePortRange({}, 3, 100, 102), 100);
  EXPECT_EQ(FreePortRange(active, 0, 100, 110), 0);
}

TEST(GangRulesTest, TheFirstFailureIsTheEarliestFailingRankOfAFailedNode) {
  std::vector<GangNodeRecord> nodes(3);
  nodes[0].node.set_status(runyard::v1::CANCELED);  // its ranks were stopped: not a failure
  auto* killed = nodes[0].node.add_ranks();
  killed->set_term_signal(15);
  killed->set_ended_unix_ms(10);
  nodes[1].node.set_status(runyard::v1::FAILED);
  auto* late = nodes[1].node.add_ranks();
  late->set_exited(true);
  late->set_exit_code(1);
  late->set_ended_unix_ms(500);
  nodes[2].node.set_status(runyard::v1::FAILED);  // lost: no ranks, ended when found
  nodes[2].ended_ms = 300;
  std::optional<GangFailure> first = FirstGangFailure(nodes);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->node_index, 2u);
  EXPECT_FALSE(first->rank.has_value());
  nodes[2].ended_ms = 600;
  first = FirstGangFailure(nodes);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->node_index, 1u);
  EXPECT_EQ(first->rank->exit_code(), 1);
}

}  // namespace
}  // namespace runyard::server
