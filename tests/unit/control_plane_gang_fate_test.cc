// Tests for distributed runs in server/control_plane.h (issue 16): one fate (a failure, a
// cancel, a lost node stops every node; the run's error is the rank that failed first) and
// the start deadline. Agents are driven as the agent loop would: polls (from threads where
// they must wait together) and status reports under each node's lease.

#include <string>
#include <vector>

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

// ------------------------------------------------------------------ one fate

TEST_F(GangTest, ANodeFailureStopsTheOtherNodeAndTheRunFailsWithItsError) {
  const std::string a = RegisterNode("a");
  const std::string b = RegisterNode("b");
  const std::string run_id = SubmitGang(2);
  const std::vector<runyard::v1::Lease> leases = HandOut({a, b});
  AllRunning(leases);

  // Node 0 waits in its poll: the failure of node 1 reaches it at once.
  BackgroundPoll node0(&Plane(), PollRequest(a, 0, 5000, {leases[0]}));
  node0.WaitUntilWaiting();
  ASSERT_TRUE(Ended(leases[1], runyard::v1::FAILED, "UserError",
                    "rank 3 (node 1, host host-b) exited with code 3",
                    {Rank(2, 1, 0, 15, clock_.NowUnixMs() + 200),
                     Rank(3, 1, 3, 0, clock_.NowUnixMs() + 100)})
                  .ok());
  absl::StatusOr<runyard::v1::PollResponse> told = node0.Join();
  ASSERT_TRUE(told.ok()) << told.status();
  EXPECT_THAT(told->cancel_run_ids(), ElementsAre(run_id));
  EXPECT_EQ(StatusOf(run_id), runyard::v1::RUNNING);  // until node 0 has stopped
  absl::StatusOr<runyard::v1::UpdateStatusResponse> still =
      Report(leases[0], runyard::v1::RUNNING);
  ASSERT_TRUE(still.ok()) << still.status();
  EXPECT_TRUE(still->cancel_requested());

  ASSERT_TRUE(Ended(leases[0], runyard::v1::CANCELED, "Canceled", "stopped",
                    {Rank(0, 0, 0, 15, clock_.NowUnixMs() + 300),
                     Rank(1, 0, 0, 15, clock_.NowUnixMs() + 300)})
                  .ok());
  const runyard::v1::Run run = GetRun(run_id);
  EXPECT_EQ(run.status(), runyard::v1::FAILED);
  EXPECT_EQ(run.error().code(), "UserError");
  EXPECT_EQ(run.error().message(), "rank 3 (node 1, host host-b) exited with code 3");
  EXPECT_TRUE(run.has_exit_code());
  EXPECT_EQ(run.exit_code(), 3);
  ASSERT_EQ(run.nodes_size(), 2);
  EXPECT_EQ(run.nodes(0).status(), runyard::v1::CANCELED);
  EXPECT_EQ(run.nodes(1).status(), runyard::v1::FAILED);
  EXPECT_EQ(run.nodes(1).ranks_size(), 2);
}

// A node that reported its own end still lists its lease in the polls its agent makes
// while the run's slot winds down: it is told neither "lost" nor "cancel", before or after
// the gang as a whole has ended (a "lease lost" there made every gang's agents warn).
TEST_F(GangTest, ANodeThatReportedItsEndIsToldNothingByItsPolls) {
  const std::string a = RegisterNode("a");
  const std::string b = RegisterNode("b");
  const std::string run_id = SubmitGang(2);
  const std::vector<runyard::v1::Lease> leases = HandOut({a, b});
  AllRunning(leases);
  ASSERT_TRUE(Ended(leases[0], runyard::v1::COMPLETED).ok());
  absl::StatusOr<runyard::v1::PollResponse> while_gang_runs = Poll(a, 0, 0, {leases[0]});
  ASSERT_TRUE(while_gang_runs.ok()) << while_gang_runs.status();
  EXPECT_THAT(while_gang_runs->lost_run_ids(), IsEmpty());
  EXPECT_THAT(while_gang_runs->cancel_run_ids(), IsEmpty());

  ASSERT_TRUE(Ended(leases[1], runyard::v1::COMPLETED).ok());
  EXPECT_EQ(StatusOf(run_id), runyard::v1::COMPLETED);
  for (int node = 0; node < 2; ++node) {
    absl::StatusOr<runyard::v1::PollResponse> after = Poll(node == 0 ? a : b, 0, 0, {leases[node]});
    ASSERT_TRUE(after.ok()) << after.status();
    EXPECT_THAT(after->lost_run_ids(), IsEmpty()) << "node " << node;
    EXPECT_THAT(after->cancel_run_ids(), IsEmpty()) << "node " << node;
  }
}

TEST_F(GangTest, TheRunsErrorIsTheRankThatFailedFirst) {
  const std::string a = RegisterNode("a");
  const std::string b = RegisterNode("b");
  const std::string run_id = SubmitGang(2);
  const std::vector<runyard::v1::Lease> leases = HandOut({a, b});
  AllRunning(leases);
  const int64_t t = clock_.NowUnixMs();
  // Node 0 reports first, but its rank failed later than node 1's.
  ASSERT_TRUE(Ended(leases[0], runyard::v1::FAILED, "UserError", "rank 1 exited with code 7",
                    {Rank(0, 0, 0, 0, t + 900), Rank(1, 0, 7, 0, t + 800)})
                  .ok());
  ASSERT_TRUE(Ended(leases[1], runyard::v1::FAILED, "UserError", "rank 2 exited with code 5",
                    {Rank(2, 1, 5, 0, t + 100), Rank(3, 1, 0, 9, t + 700)})
                  .ok());
  const runyard::v1::Run run = GetRun(run_id);
  EXPECT_EQ(run.status(), runyard::v1::FAILED);
  EXPECT_EQ(run.error().message(), "rank 2 exited with code 5");
  EXPECT_EQ(run.exit_code(), 5);
}

TEST_F(GangTest, AUserCancelReachesEveryNode) {
  const std::string a = RegisterNode("a");
  const std::string b = RegisterNode("b");
  const std::string run_id = SubmitGang(2);
  const std::vector<runyard::v1::Lease> leases = HandOut({a, b});
  AllRunning(leases);
  BackgroundPoll node0(&Plane(), PollRequest(a, 0, 5000, {leases[0]}));
  BackgroundPoll node1(&Plane(), PollRequest(b, 0, 5000, {leases[1]}));
  node0.WaitUntilWaiting();
  node1.WaitUntilWaiting();
  absl::StatusOr<runyard::v1::Run> canceled = Plane().Cancel(run_id);
  ASSERT_TRUE(canceled.ok()) << canceled.status();
  EXPECT_EQ(canceled->status(), runyard::v1::CANCEL_REQUESTED);
  for (BackgroundPoll* poll : {&node0, &node1}) {
    absl::StatusOr<runyard::v1::PollResponse> told = poll->Join();
    ASSERT_TRUE(told.ok()) << told.status();
    EXPECT_THAT(told->cancel_run_ids(), ElementsAre(run_id));
  }
  ASSERT_TRUE(Ended(leases[0], runyard::v1::CANCELED, "Canceled", "the run was canceled").ok());
  EXPECT_EQ(StatusOf(run_id), runyard::v1::CANCEL_REQUESTED);
  ASSERT_TRUE(Ended(leases[1], runyard::v1::CANCELED, "Canceled", "the run was canceled").ok());
  const runyard::v1::Run run = GetRun(run_id);
  EXPECT_EQ(run.status(), runyard::v1::CANCELED);
  EXPECT_EQ(run.error().code(), "Canceled");
}

TEST_F(GangTest, ANodeWhoseLeaseExpiredFailsTheGangAgentLost) {
  const std::string a = RegisterNode("a");
  const std::string b = RegisterNode("b");
  const std::string run_id = SubmitGang(2);
  const std::vector<runyard::v1::Lease> leases = HandOut({a, b});
  AllRunning(leases);
  clock_.Advance(std::chrono::seconds(20));
  ASSERT_TRUE(Poll(a, 0, 0, {leases[0]}).ok());  // node 0 renews; node 1 is silent
  clock_.Advance(std::chrono::seconds(20));
  Plane().ReapExpiredLeasesNow();

  runyard::v1::Run run = GetRun(run_id);
  EXPECT_EQ(run.status(), runyard::v1::RUNNING);  // until node 0 has stopped
  EXPECT_EQ(run.nodes(1).status(), runyard::v1::FAILED);
  absl::StatusOr<runyard::v1::PollResponse> told = Poll(a, 0, 0, {leases[0]});
  ASSERT_TRUE(told.ok()) << told.status();
  EXPECT_THAT(told->cancel_run_ids(), ElementsAre(run_id));
  ASSERT_TRUE(Ended(leases[0], runyard::v1::CANCELED, "Canceled", "stopped").ok());

  run = GetRun(run_id);
  EXPECT_EQ(run.status(), runyard::v1::FAILED);
  EXPECT_EQ(run.error().code(), "AgentLost");
  EXPECT_THAT(run.error().message(), HasSubstr("node 1"));
  EXPECT_THAT(run.error().message(), HasSubstr("agent b, id " + b));
  EXPECT_THAT(run.error().message(), HasSubstr("host host-b"));
  // The lost node's agent, back, is told its node is gone.
  absl::StatusOr<runyard::v1::PollResponse> back = Poll(b, 0, 0, {leases[1]});
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_THAT(back->lost_run_ids(), ElementsAre(run_id));
}

TEST_F(GangTest, AGangWhoseNodesAreAllSilentEndsWhenEveryLeaseExpired) {
  const std::string a = RegisterNode("a");
  const std::string b = RegisterNode("b");
  const std::string run_id = SubmitGang(2);
  AllRunning(HandOut({a, b}));
  clock_.Advance(std::chrono::seconds(31));
  Plane().ReapExpiredLeasesNow();
  const runyard::v1::Run run = GetRun(run_id);
  EXPECT_EQ(run.status(), runyard::v1::FAILED);
  EXPECT_EQ(run.error().code(), "AgentLost");
}

// ------------------------------------------------------------------ start deadline

TEST_F(GangTest, AnAttemptNotRunningByTheStartDeadlineIsRetriedThenFails) {
  ControlPlaneOptions options = DefaultOptions();
  options.lease_duration = std::chrono::hours(1);  // only the deadline strikes
  options.gang_start_timeout = std::chrono::seconds(60);
  Plane(options);
  const std::string a = RegisterNode("a");
  const std::string b = RegisterNode("b");
  const std::string run_id = SubmitGang(2);

  std::vector<runyard::v1::Lease> leases = HandOut({a, b});
  ASSERT_TRUE(Report(leases[0], runyard::v1::RUNNING).ok());
  ASSERT_TRUE(Report(leases[1], runyard::v1::PREPARING).ok());
  clock_.Advance(std::chrono::seconds(61));
  Plane().ReapExpiredLeasesNow();
  runyard::v1::Run run = GetRun(run_id);
  EXPECT_EQ(run.status(), runyard::v1::QUEUED);
  EXPECT_EQ(run.attempt(), 1);
  EXPECT_THAT(run.nodes(), IsEmpty());
  EXPECT_THAT(run.status_detail(), HasSubstr("waiting to retry"));
  // The stopped attempt's nodes are told their leases are gone.
  absl::StatusOr<runyard::v1::PollResponse> lost = Poll(a, 0, 0, {leases[0]});
  ASSERT_TRUE(lost.ok()) << lost.status();
  EXPECT_THAT(lost->lost_run_ids(), ElementsAre(run_id));
  // Not handed out before its backoff (5 s) has passed.
  absl::StatusOr<runyard::v1::PollResponse> early = Poll(a, 1, 0);
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_THAT(early->assignments(), IsEmpty());

  clock_.Advance(std::chrono::seconds(5));
  leases = HandOut({a, b});
  EXPECT_EQ(GetRun(run_id).attempt(), 2);
  clock_.Advance(std::chrono::seconds(61));
  Plane().ReapExpiredLeasesNow();
  clock_.Advance(std::chrono::seconds(20));  // the second retry waits 20 s
  leases = HandOut({b, a});
  EXPECT_EQ(GetRun(run_id).attempt(), 3);
  ASSERT_TRUE(Report(leases[0], runyard::v1::RUNNING).ok());
  clock_.Advance(std::chrono::seconds(61));
  Plane().ReapExpiredLeasesNow();

  run = GetRun(run_id);
  EXPECT_EQ(run.status(), runyard::v1::FAILED);
  EXPECT_EQ(run.error().code(), "GangStartTimeout");
  EXPECT_THAT(run.error().message(), HasSubstr("3 attempt"));
  EXPECT_THAT(run.error().message(),
              HasSubstr("node 1 (agent a, id " + a + ", host host-a) was Queued"));
  EXPECT_THAT(run.error().message(), Not(HasSubstr("node 0")));
  absl::StatusOr<runyard::v1::PollResponse> gone = Poll(b, 0, 0, {leases[0]});
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_THAT(gone->lost_run_ids(), ElementsAre(run_id));
}

TEST_F(GangTest, AnAttemptWhoseNodeNeverTookItUpIsQueuedAgain) {
  const std::string a = RegisterNode("a");
  const std::string b = RegisterNode("b");
  const std::string run_id = SubmitGang(2);
  const std::vector<runyard::v1::Lease> leases = HandOut({a, b});
  ASSERT_TRUE(Report(leases[0], runyard::v1::PREPARING).ok());
  clock_.Advance(std::chrono::seconds(20));
  ASSERT_TRUE(Poll(a, 0, 0, {leases[0]}).ok());
  clock_.Advance(std::chrono::seconds(20));
  Plane().ReapExpiredLeasesNow();
  const runyard::v1::Run run = GetRun(run_id);
  EXPECT_EQ(run.status(), runyard::v1::QUEUED);
  EXPECT_THAT(run.nodes(), IsEmpty());
}

}  // namespace
}  // namespace runyard::server
