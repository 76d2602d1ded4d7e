// Tests for server/control_plane.h when its store fails (tests/fakes/failing_store.h): the
// reaper, a Poll's heartbeat and a terminal UpdateStatus keep the run as it was, or say
// so, and a later try does what the failed one did not. The fixture is in
// control_plane_fixture.h.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tests/fakes/failing_store.h"
#include "tests/fakes/recording_log.h"
#include "tests/unit/control_plane_fixture.h"

namespace runyard::server {
namespace {

using ::runyard::fakes::FailingStore;
using ::runyard::fakes::RecordingLog;
using test_support::ControlPlaneTest;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr std::chrono::milliseconds kJustOver{1};

class ControlPlaneStoreErrorsTest : public ControlPlaneTest {
 protected:
  void SetUp() override {
    ControlPlaneTest::SetUp();
    failing_ = std::make_unique<FailingStore>(store_.get());
    plane_store_ = failing_.get();
  }
  // The plane goes before the store it was given (the base's members outlive this one's).
  void TearDown() override { plane_.reset(); }

  runyard::v1::Run Read(const std::string& run_id) {
    absl::StatusOr<runyard::v1::Run> run = store_->GetRun(run_id);
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? *run : runyard::v1::Run();
  }

  std::unique_ptr<FailingStore> failing_;  // around store_; the plane's store
};

TEST_F(ControlPlaneStoreErrorsTest, ReaperPassWhoseWriteFailsLeavesTheRunAndALaterPassDoesIt) {
  const runyard::v1::Lease lease = RunningRun();
  clock_.Advance(DefaultOptions().lease_duration + kJustOver);

  failing_->Fail("AppendStatus");
  Plane().ReapExpiredLeasesNow();
  EXPECT_GE(failing_->failed("AppendStatus"), 1);
  EXPECT_EQ(StatusOf(lease.run_id()), runyard::v1::RUNNING);
  absl::StatusOr<LeaseRecord> unchanged = store_->GetLease(lease.run_id());
  ASSERT_TRUE(unchanged.ok()) << unchanged.status();
  EXPECT_EQ(unchanged->lease_id, lease.lease_id());
  EXPECT_EQ(unchanged->status, runyard::v1::RUNNING);

  failing_->Heal("AppendStatus");
  Plane().ReapExpiredLeasesNow();
  EXPECT_EQ(StatusOf(lease.run_id()), runyard::v1::NOT_RESPONDING);
}

TEST_F(ControlPlaneStoreErrorsTest, PollWhoseLeaseRenewalFailsStillAnswersAndLogs) {
  std::string agent;
  const runyard::v1::Lease lease = RunningRun(&agent);
  absl::StatusOr<LeaseRecord> before = store_->GetLease(lease.run_id());
  ASSERT_TRUE(before.ok()) << before.status();
  clock_.Advance(std::chrono::seconds(10));

  RecordingLog log("server");
  failing_->Fail("RenewLease");
  absl::StatusOr<runyard::v1::PollResponse> response = Poll(agent, 0, 0, {lease});
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(response->lost_run_ids(), IsEmpty());
  EXPECT_EQ(failing_->failed("RenewLease"), 1);
  EXPECT_THAT(log.lines(), Contains(HasSubstr("cannot renew the lease")));
  absl::StatusOr<LeaseRecord> after = store_->GetLease(lease.run_id());
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->expiry_ms, before->expiry_ms) << "the failed renewal changed the lease";

  failing_->Heal("RenewLease");
  ASSERT_TRUE(Poll(agent, 0, 0, {lease}).ok());
  after = store_->GetLease(lease.run_id());
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_GT(after->expiry_ms, before->expiry_ms) << "the next poll renews it";
}

// Not knowing whether a run is still the agent's is not the same as knowing it is lost:
// the agent is told to poll again, and keeps its run (it used to be told the run was lost).
TEST_F(ControlPlaneStoreErrorsTest, PollWhoseLeaseReadIsUnavailableReturnsTheError) {
  std::string agent;
  const runyard::v1::Lease lease = RunningRun(&agent);

  failing_->Fail("GetLease", absl::UnavailableError("database is locked"));
  absl::StatusOr<runyard::v1::PollResponse> response = Poll(agent, 0, 0, {lease});
  EXPECT_TRUE(absl::IsUnavailable(response.status())) << response.status();

  failing_->Heal("GetLease");
  response = Poll(agent, 0, 0, {lease});
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(response->lost_run_ids(), IsEmpty());
  EXPECT_EQ(StatusOf(lease.run_id()), runyard::v1::RUNNING);
}

TEST_F(ControlPlaneStoreErrorsTest, TerminalUpdateWhoseUsageWriteFailsIsRefusedWhole) {
  const runyard::v1::Lease lease = RunningRun();
  runyard::v1::UpdateStatusRequest request;
  *request.mutable_lease() = lease;
  request.set_status(runyard::v1::COMPLETED);
  request.set_has_exit_code(true);
  request.set_exit_code(0);
  request.mutable_usage()->set_cpu_seconds(12.5);
  request.mutable_usage()->set_peak_memory_bytes(1 << 20);
  request.mutable_usage()->set_measured(true);

  failing_->Fail("SetUsage");
  EXPECT_FALSE(Plane().UpdateStatus(request).ok());
  EXPECT_EQ(failing_->failed("SetUsage"), 1);
  const runyard::v1::Run refused = Read(lease.run_id());
  EXPECT_EQ(refused.status(), runyard::v1::RUNNING);
  EXPECT_FALSE(refused.has_exit_code()) << "the outcome of a refused report was kept";
  EXPECT_FALSE(refused.usage().measured());
  EXPECT_EQ(refused.history(refused.history_size() - 1).status(), runyard::v1::RUNNING);

  failing_->Heal("SetUsage");  // the agent's retry
  ASSERT_TRUE(Plane().UpdateStatus(request).ok());
  const runyard::v1::Run ended = Read(lease.run_id());
  EXPECT_EQ(ended.status(), runyard::v1::COMPLETED);
  EXPECT_TRUE(ended.has_exit_code());
  EXPECT_EQ(ended.exit_code(), 0);
  EXPECT_TRUE(ended.usage().measured());
  EXPECT_DOUBLE_EQ(ended.usage().cpu_seconds(), 12.5);
}

}  // namespace
}  // namespace runyard::server
