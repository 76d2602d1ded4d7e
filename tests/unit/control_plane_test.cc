// Tests for server/control_plane.h: submit, queue per pool, dispatch to waiting agents,
// statuses, appends and leases with fencing (cancel and the lease reaper:
// control_plane_cancel_test.cc; the fixture: control_plane_fixture.h).

#include <stdlib.h>

#include <filesystem>
#include <fstream>
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

// ------------------------------------------------------------------ submit

TEST_F(ControlPlaneTest, SubmitWithoutSnapshotIsFailedPrecondition) {
  runyard::v1::RunSpec spec = Spec();
  spec.clear_snapshot_id();
  absl::StatusOr<runyard::v1::Run> run = Plane().Submit(spec);
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ControlPlaneTest, SubmitWithSnapshotNeverUploadedIsFailedPrecondition) {
  runyard::v1::RunSpec spec = Spec();
  spec.set_snapshot_id(std::string(64, 'a'));
  absl::StatusOr<runyard::v1::Run> run = Plane().Submit(spec);
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(run.status().message()), HasSubstr(std::string(64, 'a')));
}

TEST_F(ControlPlaneTest, SubmitWithAMissingFileBlobIsFailedPreconditionNamingTheFile) {
  runyard::v1::RunSpec spec = Spec();
  spec.set_snapshot_id(UploadSnapshot({{"train.py", "print('x')\n"}, {"data/labels.csv", "a,b\n"}},
                                      /*not_uploaded=*/{"data/labels.csv"}));
  absl::StatusOr<runyard::v1::Run> run = Plane().Submit(spec);
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(run.status().message()), HasSubstr("data/labels.csv"));
  EXPECT_THAT(std::string(run.status().message()), HasSubstr("not uploaded"));
  absl::StatusOr<std::vector<runyard::v1::Run>> runs = Plane().List("exp", 10);
  ASSERT_TRUE(runs.ok());
  EXPECT_THAT(*runs, IsEmpty());
}

TEST_F(ControlPlaneTest, SubmitWithEveryBlobUploadedIsAccepted) {
  runyard::v1::RunSpec spec = Spec();
  spec.set_snapshot_id(
      UploadSnapshot({{"train.py", "print('x')\n"}, {"data/labels.csv", "a,b\n"}}));
  absl::StatusOr<runyard::v1::Run> run = Plane().Submit(spec);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->spec().snapshot_id(), spec.snapshot_id());
}

TEST_F(ControlPlaneTest, SubmitWithASnapshotIdThatIsNotAManifestIsInvalidArgument) {
  // Field 1 (entries) claims 64 bytes but 3 follow: not a protobuf.
  absl::StatusOr<std::string> id =
      blobs_->Put(std::string("\x0a\x40"
                              "abc",
                              5));
  ASSERT_TRUE(id.ok()) << id.status();
  runyard::v1::RunSpec spec = Spec();
  spec.set_snapshot_id(*id);
  absl::StatusOr<runyard::v1::Run> run = Plane().Submit(spec);
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ControlPlaneTest, SubmitWithAHostileManifestIsInvalidArgumentNamingTheEntry) {
  runyard::v1::SnapshotManifest manifest;
  auto* entry = manifest.add_entries();
  entry->set_path("../escape.sh");
  entry->set_mode(0755);
  entry->set_size(3);
  entry->set_digest(common::Sha256Hex("abc"));
  ASSERT_TRUE(blobs_->Put("abc").ok());
  absl::StatusOr<std::string> id = blobs_->Put(common::SerializeManifest(manifest));
  ASSERT_TRUE(id.ok()) << id.status();
  runyard::v1::RunSpec spec = Spec();
  spec.set_snapshot_id(*id);
  absl::StatusOr<runyard::v1::Run> run = Plane().Submit(spec);
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(run.status().message()), HasSubstr("../escape.sh"));
}

TEST_F(ControlPlaneTest, SubmitOverTheServersByteLimitIsInvalidArgumentNamingTheLimit) {
  ControlPlaneOptions options = DefaultOptions();
  options.max_snapshot_bytes = 1000;
  Plane(options);
  runyard::v1::RunSpec spec = Spec();
  spec.set_snapshot_id(
      UploadSnapshot({{"train.py", "print('x')\n"}, {"big.bin", std::string(5000, 'x')}}));
  absl::StatusOr<runyard::v1::Run> run = Plane().Submit(spec);
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(run.status().message());
  EXPECT_THAT(message, HasSubstr("the limit is 1.0 KB"));
  EXPECT_THAT(message, HasSubstr("size exceeded"));
  EXPECT_THAT(message, HasSubstr("big.bin"));            // the largest file
  EXPECT_THAT(message, HasSubstr("--max-snapshot-mb"));  // how to raise it
}

TEST_F(ControlPlaneTest, SubmitOverTheServersFileLimitIsInvalidArgumentNamingTheLimit) {
  ControlPlaneOptions options = DefaultOptions();
  options.max_snapshot_files = 2;
  Plane(options);
  runyard::v1::RunSpec spec = Spec();
  spec.set_snapshot_id(UploadSnapshot({{"train.py", "t"}, {"a.txt", "a"}, {"b.txt", "b"}}));
  absl::StatusOr<runyard::v1::Run> run = Plane().Submit(spec);
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(run.status().message()), HasSubstr("2 files"));
  EXPECT_THAT(std::string(run.status().message()), HasSubstr("file count exceeded"));
}

TEST_F(ControlPlaneTest, SubmittersLimitsOverrideTheServersDefaults) {
  ControlPlaneOptions options = DefaultOptions();
  options.max_snapshot_bytes = 1000;
  options.max_snapshot_files = 1;
  Plane(options);
  runyard::v1::RunSpec spec = Spec();
  spec.set_snapshot_id(
      UploadSnapshot({{"train.py", "print('x')\n"}, {"big.bin", std::string(5000, 'x')}}));
  ASSERT_FALSE(Plane().Submit(spec).ok());

  runyard::v1::SnapshotLimits limits;
  limits.set_max_bytes(10'000);
  limits.set_max_files(10);
  absl::StatusOr<runyard::v1::Run> run = Plane().Submit(spec, limits);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->status(), runyard::v1::QUEUED);
}

TEST_F(ControlPlaneTest, SubmittersLimitsMayBeStricterThanTheServers) {
  runyard::v1::RunSpec spec = Spec();
  spec.set_snapshot_id(
      UploadSnapshot({{"train.py", "print('x')\n"}, {"big.bin", std::string(5000, 'x')}}));
  runyard::v1::SnapshotLimits limits;
  limits.set_max_bytes(100);  // max_files unset: the server's default (2,000)
  absl::StatusOr<runyard::v1::Run> run = Plane().Submit(spec, limits);
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(run.status().message()), HasSubstr("2000 files"));
}

TEST_F(ControlPlaneTest, DefaultSnapshotLimitsComeFromTheOptions) {
  ControlPlaneOptions options = DefaultOptions();
  options.max_snapshot_bytes = 1234;
  options.max_snapshot_files = 5;
  runyard::v1::SnapshotLimits limits = Plane(options).DefaultSnapshotLimits();
  EXPECT_EQ(limits.max_bytes(), 1234);
  EXPECT_EQ(limits.max_files(), 5);
}

TEST_F(ControlPlaneTest, AServerRefusesLocalRuns) {
  runyard::v1::RunSpec spec = Spec();
  spec.set_compute_target("local");
  absl::StatusOr<runyard::v1::Run> run = Plane().Submit(spec);
  EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(run.status().message()),
              HasSubstr("compute_target 'local' runs on your machine"));
}

TEST_F(ControlPlaneTest, LocalModeAcceptsLocalRuns) {
  ControlPlaneOptions options = DefaultOptions();
  options.accepts_local_runs = true;
  Plane(options);
  runyard::v1::RunSpec spec = Spec();
  spec.set_compute_target("local");
  absl::StatusOr<runyard::v1::Run> run = Plane().Submit(spec);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->target(), "local");
}

TEST_F(ControlPlaneTest, SubmitWithoutScriptIsInvalidArgument) {
  runyard::v1::RunSpec spec = Spec();
  spec.clear_script();
  absl::StatusOr<runyard::v1::Run> run = Plane().Submit(spec);
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(run.status().message()), HasSubstr("'script'"));
}

TEST_F(ControlPlaneTest, SubmitWithoutComputeTargetIsInvalidArgument) {
  runyard::v1::RunSpec spec = Spec();
  spec.clear_compute_target();
  absl::StatusOr<runyard::v1::Run> run = Plane().Submit(spec);
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ControlPlaneTest, SubmittedRunIsQueuedWithItsHistory) {
  absl::StatusOr<runyard::v1::Run> run = Plane().Submit(Spec());
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_FALSE(run->run_id().empty());
  EXPECT_EQ(run->status(), runyard::v1::QUEUED);
  EXPECT_THAT(History(*run), ElementsAre(runyard::v1::NOT_STARTED, runyard::v1::QUEUED));
  EXPECT_EQ(run->target(), "cpu");

  absl::StatusOr<runyard::v1::Run> stored = Plane().Get(run->run_id());
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->status(), runyard::v1::QUEUED);
  EXPECT_THAT(History(*stored), ElementsAre(runyard::v1::NOT_STARTED, runyard::v1::QUEUED));
  EXPECT_EQ(stored->spec().script(), "train.py");
}

TEST_F(ControlPlaneTest, SubmitWithoutExperimentUsesDefault) {
  runyard::v1::RunSpec spec = Spec();
  spec.clear_experiment();
  absl::StatusOr<runyard::v1::Run> run = Plane().Submit(spec);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->experiment(), "default");
}

TEST_F(ControlPlaneTest, EachSubmitGetsItsOwnRunId) {
  const std::string first = SubmitRun();
  const std::string second = SubmitRun();
  EXPECT_NE(first, second);
  absl::StatusOr<std::vector<runyard::v1::Run>> runs = Plane().List("exp", 10);
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(runs->size(), 2u);
}

TEST_F(ControlPlaneTest, GetOfUnknownRunIsNotFound) {
  EXPECT_EQ(Plane().Get("run_nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ControlPlaneTest, SubmitBumpsTheVersionWatchersWaitOn) {
  const uint64_t before = Plane().Version();
  SubmitRun();
  EXPECT_GT(Plane().Version(), before);
}

// ------------------------------------------------------------------ agents and polls

TEST_F(ControlPlaneTest, RegisterRefusesReservedAndEmptyPools) {
  runyard::v1::RegisterRequest request;
  request.set_pool("local");
  EXPECT_EQ(Plane().Register(request).status().code(), absl::StatusCode::kInvalidArgument);
  request.set_pool("");
  EXPECT_EQ(Plane().Register(request).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ControlPlaneTest, PollByUnregisteredAgentIsNotFound) {
  EXPECT_EQ(Poll("agent_nope", 1, 0).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ControlPlaneTest, PollHandsAQueuedRunWithALease) {
  const std::string agent = RegisterAgent();
  const std::string run_id = SubmitRun();
  absl::StatusOr<runyard::v1::PollResponse> response = Poll(agent, 1, 100);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->assignments_size(), 1);
  const runyard::v1::Assignment& assignment = response->assignments(0);
  EXPECT_EQ(assignment.lease().run_id(), run_id);
  EXPECT_FALSE(assignment.lease().lease_id().empty());
  EXPECT_GT(assignment.lease().fencing_token(), 0);
  EXPECT_EQ(assignment.spec().script(), "train.py");
  EXPECT_EQ(assignment.spec().snapshot_id(), snapshot_id_);
}

TEST_F(ControlPlaneTest, AssignedRunIsNotHandedOutTwice) {
  const std::string first_agent = RegisterAgent();
  const std::string second_agent = RegisterAgent();
  SubmitRun();
  ASSERT_EQ(Poll(first_agent, 1, 100)->assignments_size(), 1);
  EXPECT_EQ(Poll(second_agent, 1, 0)->assignments_size(), 0);
}

TEST_F(ControlPlaneTest, PollWithNoFreeSlotsGetsNothing) {
  const std::string agent = RegisterAgent();
  const std::string run_id = SubmitRun();
  absl::StatusOr<runyard::v1::PollResponse> response = Poll(agent, 0, 0);
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->assignments_size(), 0);
  EXPECT_EQ(StatusOf(run_id), runyard::v1::QUEUED);
}

TEST_F(ControlPlaneTest, PollOfAnotherPoolGetsNothing) {
  const std::string gpu_agent = RegisterAgent("gpu");
  SubmitRun();  // targets "cpu"
  EXPECT_EQ(Poll(gpu_agent, 1, 0)->assignments_size(), 0);
}

TEST_F(ControlPlaneTest, PollGivesAtMostFreeSlotsRunsOldestFirst) {
  const std::string agent = RegisterAgent();
  const std::string first = SubmitRun();
  const std::string second = SubmitRun();
  SubmitRun();
  absl::StatusOr<runyard::v1::PollResponse> response = Poll(agent, 2, 100);
  ASSERT_TRUE(response.ok());
  ASSERT_EQ(response->assignments_size(), 2);
  EXPECT_EQ(response->assignments(0).lease().run_id(), first);
  EXPECT_EQ(response->assignments(1).lease().run_id(), second);
}

TEST_F(ControlPlaneTest, WaitingPollReturnsTheRunOnceItIsSubmitted) {
  const std::string agent = RegisterAgent();
  const auto start = std::chrono::steady_clock::now();
  BackgroundPoll poll(&Plane(), PollRequest(agent, 1, 5000));
  poll.WaitUntilWaiting();
  const std::string run_id = SubmitRun();
  absl::StatusOr<runyard::v1::PollResponse> response = poll.Join();
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->assignments_size(), 1) << "the poll timed out instead of waking up";
  EXPECT_EQ(response->assignments(0).lease().run_id(), run_id);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(4500));
}

TEST_F(ControlPlaneTest, TwoWaitingAgentsGetOneRunEach) {
  const std::string agent_a = RegisterAgent();
  const std::string agent_b = RegisterAgent();
  BackgroundPoll poll_a(&Plane(), PollRequest(agent_a, 1, 5000));
  BackgroundPoll poll_b(&Plane(), PollRequest(agent_b, 1, 5000));
  poll_a.WaitUntilWaiting();
  poll_b.WaitUntilWaiting();
  const std::string first = SubmitRun();
  const std::string second = SubmitRun();
  absl::StatusOr<runyard::v1::PollResponse> response_a = poll_a.Join();
  absl::StatusOr<runyard::v1::PollResponse> response_b = poll_b.Join();
  ASSERT_TRUE(response_a.ok() && response_b.ok());
  ASSERT_EQ(response_a->assignments_size(), 1);
  ASSERT_EQ(response_b->assignments_size(), 1);
  const std::string got_a = response_a->assignments(0).lease().run_id();
  const std::string got_b = response_b->assignments(0).lease().run_id();
  EXPECT_NE(got_a, got_b);
  EXPECT_THAT((std::vector<std::string>{got_a, got_b}),
              ::testing::UnorderedElementsAre(first, second));
}

TEST_F(ControlPlaneTest, PollWithNothingToDoReturnsEmptyAfterItsWait) {
  const std::string agent = RegisterAgent();
  absl::StatusOr<runyard::v1::PollResponse> response = Poll(agent, 1, 50);
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->assignments_size(), 0);
  EXPECT_EQ(response->cancel_run_ids_size(), 0);
}

TEST_F(ControlPlaneTest, PollEndsWhenTheClientIsGone) {
  const std::string agent = RegisterAgent();
  absl::StatusOr<runyard::v1::PollResponse> response =
      Plane().Poll(PollRequest(agent, 1, 60000), [] { return true; });
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->assignments_size(), 0);
}

// ------------------------------------------------------------------ leases and fencing

TEST_F(ControlPlaneTest, AgentReportsMoveTheRunThroughItsStatuses) {
  runyard::v1::Lease lease = AssignedRun();
  for (RunStatus status : {runyard::v1::PREPARING, runyard::v1::STARTING, runyard::v1::RUNNING,
                           runyard::v1::FINALIZING}) {
    ASSERT_TRUE(Report(lease, status).ok());
  }
  runyard::v1::UpdateStatusRequest done;
  *done.mutable_lease() = lease;
  done.set_status(runyard::v1::COMPLETED);
  done.set_has_exit_code(true);
  done.set_exit_code(0);
  ASSERT_TRUE(Plane().UpdateStatus(done).ok());

  absl::StatusOr<runyard::v1::Run> run = Plane().Get(lease.run_id());
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status(), runyard::v1::COMPLETED);
  EXPECT_TRUE(run->has_exit_code());
  EXPECT_THAT(History(*run),
              ElementsAre(runyard::v1::NOT_STARTED, runyard::v1::QUEUED, runyard::v1::PREPARING,
                          runyard::v1::STARTING, runyard::v1::RUNNING, runyard::v1::FINALIZING,
                          runyard::v1::COMPLETED));
}

TEST_F(ControlPlaneTest, FailedRunKeepsItsExitCodeAndError) {
  runyard::v1::Lease lease = RunningRun();
  runyard::v1::UpdateStatusRequest request;
  *request.mutable_lease() = lease;
  request.set_status(runyard::v1::FAILED);
  request.set_has_exit_code(true);
  request.set_exit_code(3);
  request.mutable_error()->set_code("UserError");
  request.mutable_error()->set_message("the script exited with code 3");
  ASSERT_TRUE(Plane().UpdateStatus(request).ok());
  absl::StatusOr<runyard::v1::Run> run = Plane().Get(lease.run_id());
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status(), runyard::v1::FAILED);
  EXPECT_EQ(run->exit_code(), 3);
  EXPECT_EQ(run->error().code(), "UserError");
}

TEST_F(ControlPlaneTest, RepeatedReportOfTheSameStatusIsRecordedOnce) {
  runyard::v1::Lease lease = RunningRun();
  ASSERT_TRUE(Report(lease, runyard::v1::RUNNING).ok());
  absl::StatusOr<runyard::v1::Run> run = Plane().Get(lease.run_id());
  ASSERT_TRUE(run.ok());
  const std::vector<RunStatus> history = History(*run);
  EXPECT_EQ(std::count(history.begin(), history.end(), runyard::v1::RUNNING), 1);
}

TEST_F(ControlPlaneTest, AgentCannotReportServerOnlyStatuses) {
  runyard::v1::Lease lease = AssignedRun();
  for (RunStatus status :
       {runyard::v1::QUEUED, runyard::v1::NOT_STARTED, runyard::v1::CANCEL_REQUESTED,
        runyard::v1::NOT_RESPONDING, runyard::v1::RUN_STATUS_UNSPECIFIED}) {
    EXPECT_EQ(Report(lease, status).status().code(), absl::StatusCode::kInvalidArgument) << status;
  }
}

TEST_F(ControlPlaneTest, UpdateStatusWithWrongLeaseIdIsFailedPrecondition) {
  runyard::v1::Lease lease = AssignedRun();
  lease.set_lease_id("lease_forged");
  EXPECT_EQ(Report(lease, runyard::v1::RUNNING).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(ControlPlaneTest, UpdateStatusWithOldFencingTokenIsFailedPrecondition) {
  runyard::v1::Lease lease = AssignedRun();
  lease.set_fencing_token(lease.fencing_token() - 1);
  EXPECT_EQ(Report(lease, runyard::v1::RUNNING).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(ControlPlaneTest, PreviousHolderIsFencedOffAfterReassignment) {
  runyard::v1::Lease old_lease = RunningRun();
  absl::StatusOr<runyard::v1::Lease> new_lease =
      Plane().LeaseToSelf(old_lease.run_id(), "other-holder");
  ASSERT_TRUE(new_lease.ok()) << new_lease.status();
  EXPECT_GT(new_lease->fencing_token(), old_lease.fencing_token());
  EXPECT_EQ(Report(old_lease, runyard::v1::FINALIZING).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Report(*new_lease, runyard::v1::FINALIZING).ok());
}

TEST_F(ControlPlaneTest, ReportAfterTheRunEndedIsFailedPrecondition) {
  runyard::v1::Lease lease = RunningRun();
  ASSERT_TRUE(Report(lease, runyard::v1::COMPLETED).ok());
  EXPECT_EQ(Report(lease, runyard::v1::RUNNING).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(StatusOf(lease.run_id()), runyard::v1::COMPLETED);
}

TEST_F(ControlPlaneTest, AppendUnderTheCurrentLeaseWritesTheFile) {
  runyard::v1::Lease lease = RunningRun();
  runyard::v1::AppendRequest request;
  *request.mutable_lease() = lease;
  request.set_path("user_logs/std_log.txt");
  request.set_offset(0);
  request.set_data("epoch 1\n");
  absl::StatusOr<runyard::v1::AppendResponse> response = Plane().Append(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->committed_size(), 8);
  absl::StatusOr<std::vector<runyard::v1::FileInfo>> listed = store_->ListFiles(lease.run_id());
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].path(), "user_logs/std_log.txt");
  EXPECT_EQ((*listed)[0].size(), 8);
}

TEST_F(ControlPlaneTest, AppendUnderAStaleLeaseIsRefusedAndWritesNothing) {
  runyard::v1::Lease old_lease = RunningRun();
  ASSERT_TRUE(Plane().LeaseToSelf(old_lease.run_id(), "other-holder").ok());
  runyard::v1::AppendRequest request;
  *request.mutable_lease() = old_lease;
  request.set_path("outputs/model.txt");
  request.set_offset(0);
  request.set_data("stale bytes");
  EXPECT_EQ(Plane().Append(request).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(*store_->ListFiles(old_lease.run_id()), IsEmpty());
}

TEST_F(ControlPlaneTest, AppendAfterTheRunEndedIsRefused) {
  runyard::v1::Lease lease = RunningRun();
  ASSERT_TRUE(Report(lease, runyard::v1::COMPLETED).ok());
  runyard::v1::AppendRequest request;
  *request.mutable_lease() = lease;
  request.set_path("outputs/late.txt");
  request.set_data("late");
  EXPECT_EQ(Plane().Append(request).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ControlPlaneTest, PollTellsTheAgentAboutALeaseItLost) {
  std::string agent;
  runyard::v1::Lease lease = RunningRun(&agent);
  ASSERT_TRUE(Plane().LeaseToSelf(lease.run_id(), "other-holder").ok());
  absl::StatusOr<runyard::v1::PollResponse> response = Poll(agent, 0, 0, {lease});
  ASSERT_TRUE(response.ok());
  EXPECT_THAT(response->lost_run_ids(), ElementsAre(lease.run_id()));
}

TEST_F(ControlPlaneTest, PollTellsTheAgentAboutARunThatEnded) {
  std::string agent;
  runyard::v1::Lease lease = RunningRun(&agent);
  ASSERT_TRUE(Report(lease, runyard::v1::COMPLETED).ok());
  absl::StatusOr<runyard::v1::PollResponse> response = Poll(agent, 0, 0, {lease});
  ASSERT_TRUE(response.ok());
  EXPECT_THAT(response->lost_run_ids(), ElementsAre(lease.run_id()));
}

}  // namespace
}  // namespace runyard::server
