// Tests for the agents listing of server/control_plane.h (ControlPlane::ListAgents, in
// server/agent_listing.cc): capabilities kept from Register, and the states idle, busy,
// draining, lost and offline; and that a draining agent is handed no run.
//
// No sleeps: a poll announces that it waits through its client_gone callback; time is a
// FakeClock, and one agent's silence is made by moving the clock or by setting its last
// poll in the store into the past.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/digest.h"
#include "common/snapshot_manifest.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/control_plane.h"
#include "tests/fakes/fake_clock.h"
#include "tests/unit/control_plane_fixture.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::server {
namespace {

using test_support::BackgroundPoll;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr auto kLostAfter = std::chrono::seconds(60);

class ControlPlaneAgentsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Store>> store =
        Store::Open((tmp_.path() / "runyard.db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    blobs_ = std::make_unique<BlobStore>(tmp_.path() / "blobs");
    files_ = std::make_unique<RunFiles>(tmp_.path() / "files", store_.get(), &clock_);
    ControlPlaneOptions options;
    options.clock = &clock_;
    options.lease_duration = std::chrono::seconds(30);
    options.agent_lost_after = kLostAfter;
    options.max_poll_wait = std::chrono::seconds(5);
    plane_ = std::make_unique<ControlPlane>(store_.get(), blobs_.get(), files_.get(), options);
  }

  // A snapshot of one file, uploaded, so runs can be submitted.
  std::string Snapshot() {
    const std::string content = "print('training')\n";
    EXPECT_TRUE(blobs_->Put(content).ok());
    runyard::v1::SnapshotManifest manifest;
    auto* entry = manifest.add_entries();
    entry->set_path("train.py");
    entry->set_mode(0644);
    entry->set_size(static_cast<int64_t>(content.size()));
    entry->set_digest(common::Sha256Hex(content));
    absl::StatusOr<std::string> id = blobs_->Put(common::SerializeManifest(manifest));
    EXPECT_TRUE(id.ok()) << id.status();
    return id.value_or("");
  }

  std::string SubmitRun(const std::string& pool = "cpu") {
    runyard::v1::RunSpec spec;
    spec.set_script("train.py");
    spec.set_compute_target(pool);
    spec.set_snapshot_id(Snapshot());
    absl::StatusOr<runyard::v1::Run> run = plane_->Submit(spec);
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? run->run_id() : "";
  }

  static runyard::v1::Capabilities SomeCapabilities() {
    runyard::v1::Capabilities capabilities;
    capabilities.set_cpus(8);
    capabilities.set_memory_bytes(32LL << 30);
    auto* gpu = capabilities.add_gpus();
    gpu->set_index(0);
    gpu->set_name("NVIDIA H100 80GB HBM3");
    gpu->set_memory_bytes(81559LL << 20);
    gpu->set_uuid("GPU-1234");
    (*capabilities.mutable_labels())["zone"] = "a";
    return capabilities;
  }

  std::string Register(const std::string& name, const std::string& pool = "cpu", int slots = 1) {
    runyard::v1::RegisterRequest request;
    request.set_name(name);
    request.set_pool(pool);
    request.set_slots(slots);
    request.set_hostname("node-1");
    request.set_version("0.1.0");
    *request.mutable_capabilities() = SomeCapabilities();
    absl::StatusOr<runyard::v1::RegisterResponse> response = plane_->Register(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->agent_id() : "";
  }

  static runyard::v1::PollRequest PollRequest(const std::string& agent_id, int wait_ms,
                                              bool draining = false,
                                              const std::vector<runyard::v1::Lease>& held = {}) {
    runyard::v1::PollRequest request;
    request.set_agent_id(agent_id);
    request.set_free_slots(1);
    request.set_wait_ms(wait_ms);
    request.set_draining(draining);
    for (const auto& lease : held) *request.add_held() = lease;
    return request;
  }

  absl::StatusOr<runyard::v1::PollResponse> Poll(const std::string& agent_id, int wait_ms,
                                                 bool draining = false,
                                                 const std::vector<runyard::v1::Lease>& held = {}) {
    return plane_->Poll(PollRequest(agent_id, wait_ms, draining, held), [] { return false; });
  }

  // The agent's last poll, as the store has it, this long ago.
  void SilentFor(const std::string& agent_id, std::chrono::milliseconds silence,
                 bool draining = false) {
    ASSERT_TRUE(store_->TouchAgent(agent_id, clock_.NowUnixMs() - silence.count(), draining).ok());
  }

  std::vector<runyard::v1::AgentInfo> List(const std::string& pool = "",
                                           bool include_offline = false) {
    absl::StatusOr<std::vector<runyard::v1::AgentInfo>> agents =
        plane_->ListAgents(pool, include_offline);
    EXPECT_TRUE(agents.ok()) << agents.status();
    return agents.value_or(std::vector<runyard::v1::AgentInfo>{});
  }

  runyard::v1::AgentInfo Find(const std::string& agent_id, bool include_offline = false) {
    for (const auto& agent : List("", include_offline)) {
      if (agent.agent_id() == agent_id) return agent;
    }
    ADD_FAILURE() << "agent " << agent_id << " is not listed";
    return {};
  }

  testutil::ScopedTempDir tmp_;
  ::runyard::fakes::FakeClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<RunFiles> files_;
  std::unique_ptr<ControlPlane> plane_;
};

TEST_F(ControlPlaneAgentsTest, RegisterKeepsCapabilitiesAndTheListingShowsThem) {
  const int64_t before = clock_.NowUnixMs();
  const std::string agent_id = Register("gpu-node");
  const runyard::v1::AgentInfo agent = Find(agent_id);
  EXPECT_EQ(agent.name(), "gpu-node");
  EXPECT_EQ(agent.pool(), "cpu");
  EXPECT_EQ(agent.hostname(), "node-1");
  EXPECT_EQ(agent.version(), "0.1.0");
  EXPECT_EQ(agent.slots(), 1);
  EXPECT_EQ(agent.state(), runyard::v1::AGENT_STATE_IDLE);
  EXPECT_THAT(agent.active_run_ids(), IsEmpty());
  EXPECT_EQ(agent.capabilities().cpus(), 8);
  EXPECT_EQ(agent.capabilities().memory_bytes(), 32LL << 30);
  ASSERT_EQ(agent.capabilities().gpus_size(), 1);
  EXPECT_EQ(agent.capabilities().gpus(0).name(), "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(agent.capabilities().gpus(0).memory_bytes(), 81559LL << 20);
  EXPECT_EQ(agent.capabilities().gpus(0).uuid(), "GPU-1234");
  EXPECT_THAT(agent.capabilities().labels(), UnorderedElementsAre(Pair("zone", "a")));
  EXPECT_GE(agent.registered_unix_ms(), before);
  EXPECT_GE(agent.last_heartbeat_unix_ms(), agent.registered_unix_ms());
}

TEST_F(ControlPlaneAgentsTest, ListingFiltersByPool) {
  const std::string cpu = Register("a", "cpu");
  const std::string gpu = Register("b", "gpu");
  auto ids = [](const std::vector<runyard::v1::AgentInfo>& agents) {
    std::vector<std::string> out;
    for (const auto& agent : agents) out.push_back(agent.agent_id());
    return out;
  };
  EXPECT_THAT(ids(List("cpu")), ElementsAre(cpu));
  EXPECT_THAT(ids(List("gpu")), ElementsAre(gpu));
  EXPECT_THAT(ids(List("")), UnorderedElementsAre(cpu, gpu));
  EXPECT_THAT(List("nope"), IsEmpty());
}

TEST_F(ControlPlaneAgentsTest, AgentHoldingARunIsBusyUntilTheRunEnds) {
  const std::string agent_id = Register("a");
  const std::string run_id = SubmitRun();
  absl::StatusOr<runyard::v1::PollResponse> polled = Poll(agent_id, 1000);
  ASSERT_TRUE(polled.ok()) << polled.status();
  ASSERT_EQ(polled->assignments_size(), 1);
  const runyard::v1::Lease lease = polled->assignments(0).lease();

  // Handed out, not started yet: already the agent's run.
  runyard::v1::AgentInfo agent = Find(agent_id);
  EXPECT_EQ(agent.state(), runyard::v1::AGENT_STATE_BUSY);
  EXPECT_THAT(agent.active_run_ids(), ElementsAre(run_id));

  for (auto status : {runyard::v1::PREPARING, runyard::v1::RUNNING}) {
    runyard::v1::UpdateStatusRequest update;
    *update.mutable_lease() = lease;
    update.set_status(status);
    ASSERT_TRUE(plane_->UpdateStatus(update).ok());
  }
  EXPECT_EQ(Find(agent_id).state(), runyard::v1::AGENT_STATE_BUSY);

  runyard::v1::UpdateStatusRequest done;
  *done.mutable_lease() = lease;
  done.set_status(runyard::v1::COMPLETED);
  done.set_has_exit_code(true);
  ASSERT_TRUE(plane_->UpdateStatus(done).ok());
  agent = Find(agent_id);
  EXPECT_EQ(agent.state(), runyard::v1::AGENT_STATE_IDLE);
  EXPECT_THAT(agent.active_run_ids(), IsEmpty());
}

TEST_F(ControlPlaneAgentsTest, DrainingAgentIsHandedNoRunAndShowsDraining) {
  const std::string draining = Register("draining");
  const std::string run_id = SubmitRun();

  // A queued run, an agent with a free slot that drains: nothing for it.
  absl::StatusOr<runyard::v1::PollResponse> polled = Poll(draining, 0, /*draining=*/true);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->assignments_size(), 0);
  EXPECT_EQ(Find(draining).state(), runyard::v1::AGENT_STATE_DRAINING);

  // Nor while it waits and a run is submitted.
  BackgroundPoll waiting(plane_.get(), PollRequest(draining, 300, /*draining=*/true));
  waiting.WaitUntilWaiting();
  const std::string second = SubmitRun();
  absl::StatusOr<runyard::v1::PollResponse> waited = waiting.Join();
  ASSERT_TRUE(waited.ok()) << waited.status();
  EXPECT_EQ(waited->assignments_size(), 0);
  EXPECT_EQ(plane_->Get(run_id)->status(), runyard::v1::QUEUED);

  // Another agent of the pool gets the queued runs.
  const std::string other = Register("other", "cpu", 2);
  runyard::v1::PollRequest request = PollRequest(other, 1000);
  request.set_free_slots(2);
  absl::StatusOr<runyard::v1::PollResponse> taken = plane_->Poll(request, [] { return false; });
  ASSERT_TRUE(taken.ok()) << taken.status();
  std::vector<std::string> assigned;
  for (const auto& assignment : taken->assignments())
    assigned.push_back(assignment.lease().run_id());
  EXPECT_THAT(assigned, UnorderedElementsAre(run_id, second));
  EXPECT_EQ(Find(draining).state(), runyard::v1::AGENT_STATE_DRAINING);
}

TEST_F(ControlPlaneAgentsTest, DrainingAgentWithARunStaysDrainingAndStillGetsCancels) {
  const std::string agent_id = Register("a");
  const std::string run_id = SubmitRun();
  absl::StatusOr<runyard::v1::PollResponse> polled = Poll(agent_id, 1000);
  ASSERT_TRUE(polled.ok() && polled->assignments_size() == 1);
  const runyard::v1::Lease lease = polled->assignments(0).lease();
  runyard::v1::UpdateStatusRequest running;
  *running.mutable_lease() = lease;
  running.set_status(runyard::v1::RUNNING);
  ASSERT_TRUE(plane_->UpdateStatus(running).ok());

  BackgroundPoll waiting(plane_.get(), PollRequest(agent_id, 5000, /*draining=*/true, {lease}));
  waiting.WaitUntilWaiting();
  const runyard::v1::AgentInfo agent = Find(agent_id);
  EXPECT_EQ(agent.state(), runyard::v1::AGENT_STATE_DRAINING);
  EXPECT_THAT(agent.active_run_ids(), ElementsAre(run_id));

  ASSERT_TRUE(plane_->Cancel(run_id).ok());
  absl::StatusOr<runyard::v1::PollResponse> waited = waiting.Join();
  ASSERT_TRUE(waited.ok()) << waited.status();
  EXPECT_THAT(waited->cancel_run_ids(), ElementsAre(run_id));
}

TEST_F(ControlPlaneAgentsTest, RunHandedToAPollWhoseAgentWentAwayIsQueuedAgainAtOnce) {
  // An agent that starts draining cuts its waiting poll short; a run handed to that poll
  // in the same instant must not wait for its lease to expire.
  const std::string leaving = Register("leaving");
  std::atomic<bool> gone = false;
  std::promise<void> waiting;
  bool announced = false;
  absl::StatusOr<runyard::v1::PollResponse> response;
  std::thread poll([&] {
    response = plane_->Poll(PollRequest(leaving, 5000), [&] {
      const bool answer = gone.load();  // read before the test is told to go on
      if (!announced) {
        announced = true;
        waiting.set_value();
      }
      return answer;
    });
  });
  waiting.get_future().wait();
  gone = true;
  const std::string run_id = SubmitRun();  // assigned to the waiting poll, whose client is gone
  poll.join();
  EXPECT_EQ(response.status().code(), absl::StatusCode::kCancelled);
  absl::StatusOr<LeaseRecord> lease = store_->GetLease(run_id);
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ(lease->lease_id, "");
  EXPECT_EQ(lease->status, runyard::v1::QUEUED);
  EXPECT_THAT(Find(leaving).active_run_ids(), IsEmpty());

  const std::string other = Register("other");
  absl::StatusOr<runyard::v1::PollResponse> taken = Poll(other, 1000);
  ASSERT_TRUE(taken.ok()) << taken.status();
  ASSERT_EQ(taken->assignments_size(), 1);
  EXPECT_EQ(taken->assignments(0).lease().run_id(), run_id);
  EXPECT_GT(taken->assignments(0).lease().fencing_token(), 1);
}

TEST_F(ControlPlaneAgentsTest, SilentAgentIsLost) {
  const std::string agent_id = Register("a");
  const int64_t registered = clock_.NowUnixMs();
  clock_.Advance(kLostAfter);
  EXPECT_EQ(Find(agent_id).state(), runyard::v1::AGENT_STATE_IDLE)
      << "silent exactly agent_lost_after";
  clock_.Advance(std::chrono::milliseconds(1));
  const runyard::v1::AgentInfo agent = Find(agent_id);
  EXPECT_EQ(agent.state(), runyard::v1::AGENT_STATE_LOST);
  EXPECT_EQ(agent.last_heartbeat_unix_ms(), registered);
}

TEST_F(ControlPlaneAgentsTest, APollBringsALostAgentBack) {
  const std::string agent_id = Register("a");
  clock_.Advance(kLostAfter + std::chrono::seconds(1));
  ASSERT_EQ(Find(agent_id).state(), runyard::v1::AGENT_STATE_LOST);
  ASSERT_TRUE(Poll(agent_id, 0).ok());
  const runyard::v1::AgentInfo agent = Find(agent_id);
  EXPECT_EQ(agent.state(), runyard::v1::AGENT_STATE_IDLE);
  EXPECT_EQ(agent.last_heartbeat_unix_ms(), clock_.NowUnixMs());
}

TEST_F(ControlPlaneAgentsTest, AgentWaitingInAPollIsNeverSilent) {
  const std::string agent_id = Register("a");
  BackgroundPoll waiting(plane_.get(), PollRequest(agent_id, 300));
  waiting.WaitUntilWaiting();
  const int64_t before = clock_.NowUnixMs();
  SilentFor(agent_id, kLostAfter * 2);  // the store's time of its poll's start, long ago
  const runyard::v1::AgentInfo agent = Find(agent_id);
  EXPECT_EQ(agent.state(), runyard::v1::AGENT_STATE_IDLE);
  EXPECT_GE(agent.last_heartbeat_unix_ms(), before);
  // A poll's end is a heartbeat too.
  ASSERT_TRUE(waiting.Join().ok());
  EXPECT_EQ(Find(agent_id).state(), runyard::v1::AGENT_STATE_IDLE);
}

TEST_F(ControlPlaneAgentsTest, SilentAfterDrainingIsOfflineAndListedOnlyWhenAsked) {
  const std::string agent_id = Register("a");
  ASSERT_TRUE(Poll(agent_id, 0, /*draining=*/true).ok());
  SilentFor(agent_id, kLostAfter + std::chrono::seconds(10), /*draining=*/true);
  EXPECT_THAT(List(), IsEmpty());
  EXPECT_EQ(Find(agent_id, /*include_offline=*/true).state(), runyard::v1::AGENT_STATE_OFFLINE);
}

TEST_F(ControlPlaneAgentsTest, RestartedAgentsOldSelfIsOfflineOnceSilent) {
  const std::string old_self = Register("a");
  SilentFor(old_self, kLostAfter + std::chrono::seconds(10));
  const std::string new_self = Register("a");
  const std::vector<runyard::v1::AgentInfo> listed = List();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].agent_id(), new_self);
  EXPECT_EQ(listed[0].state(), runyard::v1::AGENT_STATE_IDLE);
  EXPECT_EQ(Find(old_self, /*include_offline=*/true).state(), runyard::v1::AGENT_STATE_OFFLINE);

  // The same name in another pool is another agent: that one is lost.
  const std::string elsewhere = Register("b", "cpu");
  SilentFor(elsewhere, kLostAfter + std::chrono::seconds(10));
  Register("b", "gpu");
  EXPECT_EQ(Find(elsewhere).state(), runyard::v1::AGENT_STATE_LOST);
}

TEST_F(ControlPlaneAgentsTest, TwoLiveAgentsOfOneNameAreBothListed) {
  const std::string first = Register("a");
  const std::string second = Register("a");
  EXPECT_EQ(Find(first).state(), runyard::v1::AGENT_STATE_IDLE);
  EXPECT_EQ(Find(second).state(), runyard::v1::AGENT_STATE_IDLE);
}

}  // namespace
}  // namespace runyard::server
