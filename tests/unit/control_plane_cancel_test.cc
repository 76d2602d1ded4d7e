// Tests for server/control_plane.h: cancel (queued, assigned, running; delivered through
// polls and status replies), runs of lost agents, and the lease reaper. The fixture is in
// control_plane_fixture.h.

#include <chrono>
#include <string>
#include <vector>

#include "tests/unit/control_plane_fixture.h"

namespace runyard::server {
namespace {

namespace fs = std::filesystem;
using runyard::v1::RunStatus;
using test_support::BackgroundPoll;
using test_support::ControlPlaneTest;
using test_support::History;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// ------------------------------------------------------------------ cancel

TEST_F(ControlPlaneTest, CancelOfAQueuedRunCancelsItAtOnce) {
  const std::string run_id = SubmitRun();
  absl::StatusOr<runyard::v1::Run> run = Plane().Cancel(run_id);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->status(), runyard::v1::CANCELED);
  EXPECT_EQ(run->error().code(), "Canceled");
  EXPECT_THAT(History(*run),
              ElementsAre(runyard::v1::NOT_STARTED, runyard::v1::QUEUED, runyard::v1::CANCELED));
}

TEST_F(ControlPlaneTest, CanceledQueuedRunIsNotHandedOut) {
  const std::string agent = RegisterAgent();
  ASSERT_TRUE(Plane().Cancel(SubmitRun()).ok());
  EXPECT_EQ(Poll(agent, 1, 0)->assignments_size(), 0);
}

TEST_F(ControlPlaneTest, CancelOfAnAssignedButUnstartedRunFencesTheHolder) {
  runyard::v1::Lease lease = AssignedRun();
  absl::StatusOr<runyard::v1::Run> run = Plane().Cancel(lease.run_id());
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status(), runyard::v1::CANCELED);
  EXPECT_EQ(Report(lease, runyard::v1::PREPARING).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(ControlPlaneTest, CancelOfARunningRunRequestsCancel) {
  runyard::v1::Lease lease = RunningRun();
  absl::StatusOr<runyard::v1::Run> run = Plane().Cancel(lease.run_id());
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->status(), runyard::v1::CANCEL_REQUESTED);
}

TEST_F(ControlPlaneTest, HolderLearnsOfTheCancelInItsNextPoll) {
  std::string agent;
  runyard::v1::Lease lease = RunningRun(&agent);
  ASSERT_TRUE(Plane().Cancel(lease.run_id()).ok());
  absl::StatusOr<runyard::v1::PollResponse> response = Poll(agent, 0, 1000, {lease});
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(response->cancel_run_ids(), ElementsAre(lease.run_id()));
  EXPECT_THAT(response->lost_run_ids(), IsEmpty());
}

TEST_F(ControlPlaneTest, WaitingHolderIsWokenByTheCancel) {
  std::string agent;
  runyard::v1::Lease lease = RunningRun(&agent);
  BackgroundPoll poll(&Plane(), PollRequest(agent, 0, 5000, {lease}));
  poll.WaitUntilWaiting();
  ASSERT_TRUE(Plane().Cancel(lease.run_id()).ok());
  absl::StatusOr<runyard::v1::PollResponse> response = poll.Join();
  ASSERT_TRUE(response.ok());
  EXPECT_THAT(response->cancel_run_ids(), ElementsAre(lease.run_id()));
}

TEST_F(ControlPlaneTest, UpdateStatusTellsTheHolderACancelWasRequested) {
  runyard::v1::Lease lease = RunningRun();
  ASSERT_TRUE(Plane().Cancel(lease.run_id()).ok());
  absl::StatusOr<runyard::v1::UpdateStatusResponse> response =
      Report(lease, runyard::v1::FINALIZING);
  ASSERT_TRUE(response.ok());
  EXPECT_TRUE(response->cancel_requested());
  EXPECT_EQ(StatusOf(lease.run_id()), runyard::v1::CANCEL_REQUESTED)
      << "a non-terminal report must not hide the pending cancel";
}

TEST_F(ControlPlaneTest, HolderEndsACancelRequestedRunAsCanceled) {
  runyard::v1::Lease lease = RunningRun();
  ASSERT_TRUE(Plane().Cancel(lease.run_id()).ok());
  ASSERT_TRUE(Report(lease, runyard::v1::CANCELED).ok());
  EXPECT_EQ(StatusOf(lease.run_id()), runyard::v1::CANCELED);
}

TEST_F(ControlPlaneTest, CancelIsIdempotent) {
  runyard::v1::Lease lease = RunningRun();
  ASSERT_TRUE(Plane().Cancel(lease.run_id()).ok());
  absl::StatusOr<runyard::v1::Run> again = Plane().Cancel(lease.run_id());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status(), runyard::v1::CANCEL_REQUESTED);
  const std::vector<RunStatus> history = History(*again);
  EXPECT_EQ(std::count(history.begin(), history.end(), runyard::v1::CANCEL_REQUESTED), 1);
}

TEST_F(ControlPlaneTest, CancelOfAnEndedRunChangesNothing) {
  runyard::v1::Lease lease = RunningRun();
  ASSERT_TRUE(Report(lease, runyard::v1::COMPLETED).ok());
  absl::StatusOr<runyard::v1::Run> run = Plane().Cancel(lease.run_id());
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status(), runyard::v1::COMPLETED);
}

TEST_F(ControlPlaneTest, CancelOfAnUnknownRunIsNotFound) {
  EXPECT_EQ(Plane().Cancel("run_nope").status().code(), absl::StatusCode::kNotFound);
}

// ------------------------------------------------------------------ lost holders

TEST_F(ControlPlaneTest, FailLostRunEndsARunningRunWithAgentLost) {
  runyard::v1::Lease lease = RunningRun();
  ASSERT_TRUE(Plane().FailLostRun(lease.run_id(), "its process died").ok());
  absl::StatusOr<runyard::v1::Run> run = Plane().Get(lease.run_id());
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status(), runyard::v1::FAILED);
  EXPECT_EQ(run->error().code(), "AgentLost");
  EXPECT_EQ(run->error().message(), "its process died");
  EXPECT_EQ(Report(lease, runyard::v1::RUNNING).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(ControlPlaneTest, FailLostRunLeavesAnEndedRunAlone) {
  runyard::v1::Lease lease = RunningRun();
  ASSERT_TRUE(Report(lease, runyard::v1::COMPLETED).ok());
  ASSERT_TRUE(Plane().FailLostRun(lease.run_id(), "too late").ok());
  absl::StatusOr<runyard::v1::Run> run = Plane().Get(lease.run_id());
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status(), runyard::v1::COMPLETED);
  EXPECT_TRUE(run->error().code().empty());
}

TEST_F(ControlPlaneTest, FailLostRunOfAnUnknownRunIsNotFound) {
  EXPECT_EQ(Plane().FailLostRun("run_nope", "x").code(), absl::StatusCode::kNotFound);
}

// ------------------------------------------------------------------ lease reaper
// Time is the fixture's FakeClock: a test moves it past a lease and runs one reaper pass.

constexpr auto kLease = std::chrono::seconds(30);
constexpr auto kLostAfter = std::chrono::seconds(60);
constexpr auto kJustOver = std::chrono::milliseconds(1);

ControlPlaneOptions Leases() {
  ControlPlaneOptions options;
  options.lease_duration = kLease;
  options.agent_lost_after = kLostAfter;
  options.max_poll_wait = std::chrono::seconds(5);
  return options;
}

TEST_F(ControlPlaneTest, ReaperLeavesALeaseAloneUntilItHasExpired) {
  Plane(Leases());
  runyard::v1::Lease lease = RunningRun();
  clock_.Advance(kLease);  // expires at this instant, not before
  Plane().ReapExpiredLeasesNow();
  EXPECT_EQ(StatusOf(lease.run_id()), runyard::v1::RUNNING);
}

TEST_F(ControlPlaneTest, RunOfASilentAgentBecomesNotRespondingThenFailsWithAgentLost) {
  Plane(Leases());
  runyard::v1::Lease lease = RunningRun();

  clock_.Advance(kLease + kJustOver);
  Plane().ReapExpiredLeasesNow();
  EXPECT_EQ(StatusOf(lease.run_id()), runyard::v1::NOT_RESPONDING);

  clock_.Advance(kLostAfter - kJustOver);  // silent exactly agent_lost_after: not lost yet
  Plane().ReapExpiredLeasesNow();
  EXPECT_EQ(StatusOf(lease.run_id()), runyard::v1::NOT_RESPONDING);

  clock_.Advance(kJustOver);
  Plane().ReapExpiredLeasesNow();
  absl::StatusOr<runyard::v1::Run> run = Plane().Get(lease.run_id());
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status(), runyard::v1::FAILED);
  EXPECT_EQ(run->error().code(), "AgentLost");
  EXPECT_THAT(History(*run),
              ElementsAre(runyard::v1::NOT_STARTED, runyard::v1::QUEUED, runyard::v1::RUNNING,
                          runyard::v1::NOT_RESPONDING, runyard::v1::FAILED));
  EXPECT_EQ(Report(lease, runyard::v1::RUNNING).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(ControlPlaneTest, ReaperPassWakesWatchers) {
  Plane(Leases());
  runyard::v1::Lease lease = RunningRun();
  const uint64_t before = Plane().Version();
  clock_.Advance(kLease + kJustOver);
  Plane().ReapExpiredLeasesNow();
  EXPECT_GT(Plane().Version(), before);
}

TEST_F(ControlPlaneTest, AgentThatComesBackResumesItsNotRespondingRun) {
  Plane(Leases());
  std::string agent;
  runyard::v1::Lease lease = RunningRun(&agent);
  clock_.Advance(kLease + kJustOver);
  Plane().ReapExpiredLeasesNow();
  ASSERT_EQ(StatusOf(lease.run_id()), runyard::v1::NOT_RESPONDING);

  absl::StatusOr<runyard::v1::PollResponse> response = Poll(agent, 0, 0, {lease});
  ASSERT_TRUE(response.ok());
  EXPECT_THAT(response->lost_run_ids(), IsEmpty());
  absl::StatusOr<runyard::v1::Run> run = Plane().Get(lease.run_id());
  ASSERT_TRUE(run.ok());
  EXPECT_THAT(History(*run),
              ElementsAre(runyard::v1::NOT_STARTED, runyard::v1::QUEUED, runyard::v1::RUNNING,
                          runyard::v1::NOT_RESPONDING, runyard::v1::RUNNING));

  // The poll renewed the lease: a full lease later, the run is still fine.
  clock_.Advance(kLease);
  Plane().ReapExpiredLeasesNow();
  EXPECT_EQ(StatusOf(lease.run_id()), runyard::v1::RUNNING);
}

TEST_F(ControlPlaneTest, StatusReportsRenewTheLease) {
  Plane(Leases());
  runyard::v1::Lease lease = RunningRun();
  clock_.Advance(kLease - kJustOver);
  ASSERT_TRUE(Report(lease, runyard::v1::FINALIZING).ok());
  clock_.Advance(kLease - kJustOver);  // past the first expiry, within the renewed one
  Plane().ReapExpiredLeasesNow();
  EXPECT_EQ(StatusOf(lease.run_id()), runyard::v1::FINALIZING);
}

TEST_F(ControlPlaneTest, RunHandedOutButNeverStartedIsQueuedAgain) {
  Plane(Leases());
  runyard::v1::Lease first = AssignedRun();  // the agent never reports: it vanished
  const std::string other_agent = RegisterAgent();
  EXPECT_EQ(Poll(other_agent, 1, 0)->assignments_size(), 0) << "the run is still leased";

  clock_.Advance(kLease + kJustOver);
  Plane().ReapExpiredLeasesNow();
  absl::StatusOr<LeaseRecord> cleared = store_->GetLease(first.run_id());
  ASSERT_TRUE(cleared.ok());
  EXPECT_EQ(cleared->lease_id, "");
  EXPECT_EQ(cleared->status, runyard::v1::QUEUED);

  absl::StatusOr<runyard::v1::PollResponse> response = Poll(other_agent, 1, 0);
  ASSERT_TRUE(response.ok());
  ASSERT_EQ(response->assignments_size(), 1) << "the run was not queued again";
  const runyard::v1::Lease& second = response->assignments(0).lease();
  EXPECT_EQ(second.run_id(), first.run_id());
  EXPECT_GT(second.fencing_token(), first.fencing_token());
  EXPECT_EQ(Report(first, runyard::v1::PREPARING).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(ControlPlaneTest, RequeuedRunGoesToAnAgentAlreadyWaiting) {
  Plane(Leases());
  runyard::v1::Lease first = AssignedRun();
  const std::string other_agent = RegisterAgent();
  BackgroundPoll poll(&Plane(), PollRequest(other_agent, 1, 5000));
  poll.WaitUntilWaiting();

  clock_.Advance(kLease + kJustOver);
  Plane().ReapExpiredLeasesNow();  // queues it again and hands it to the waiting poll
  absl::StatusOr<runyard::v1::PollResponse> response = poll.Join();
  ASSERT_TRUE(response.ok());
  ASSERT_EQ(response->assignments_size(), 1);
  EXPECT_EQ(response->assignments(0).lease().run_id(), first.run_id());
}

// A cancel asked while the agent is silent must survive the reaper and reach the agent
// when it comes back.
TEST_F(ControlPlaneTest, CancelRequestedWhileTheAgentIsSilentIsDeliveredWhenItComesBack) {
  Plane(Leases());
  std::string agent;
  runyard::v1::Lease lease = RunningRun(&agent);
  clock_.Advance(kLease + kJustOver);
  Plane().ReapExpiredLeasesNow();
  ASSERT_EQ(StatusOf(lease.run_id()), runyard::v1::NOT_RESPONDING);
  ASSERT_EQ(Plane().Cancel(lease.run_id())->status(), runyard::v1::CANCEL_REQUESTED);

  // Two more passes while the agent stays silent, short of agent_lost_after.
  for (int pass = 0; pass < 2; ++pass) {
    clock_.Advance(std::chrono::seconds(1));
    Plane().ReapExpiredLeasesNow();
    ASSERT_EQ(StatusOf(lease.run_id()), runyard::v1::CANCEL_REQUESTED) << "pass " << pass;
  }

  absl::StatusOr<runyard::v1::PollResponse> response = Poll(agent, 0, 0, {lease});
  ASSERT_TRUE(response.ok());
  EXPECT_THAT(response->cancel_run_ids(), ElementsAre(lease.run_id()));
  EXPECT_EQ(StatusOf(lease.run_id()), runyard::v1::CANCEL_REQUESTED);
}

TEST_F(ControlPlaneTest, CancelRequestedRunOfAnAgentGoneForGoodFailsWithAgentLost) {
  Plane(Leases());
  runyard::v1::Lease lease = RunningRun();
  ASSERT_EQ(Plane().Cancel(lease.run_id())->status(), runyard::v1::CANCEL_REQUESTED);
  clock_.Advance(kLease + kLostAfter + kJustOver);
  Plane().ReapExpiredLeasesNow();
  absl::StatusOr<runyard::v1::Run> run = Plane().Get(lease.run_id());
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status(), runyard::v1::FAILED);
  EXPECT_EQ(run->error().code(), "AgentLost");
}

}  // namespace
}  // namespace runyard::server
