// Tests for agent/agent.h's main loop against a fake control-plane link: registering,
// polling (free slots, held leases), runs started in slots and reported through the link,
// cancels, drains and their timeout (on a FakeClock), and retries after server errors.
// The runs are tiny real shell runs through the real runtime in a temporary work dir.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent.h"
#include "cli/snapshot_builder.h"
#include "common/read_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_command_runner.h"
#include "tests/fakes/fake_control_plane_link.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::agent {
namespace {

namespace fs = std::filesystem;
using ::runyard::fakes::FakeClock;
using ::runyard::fakes::FakeCommandRunner;
using ::runyard::fakes::FakeControlPlaneLink;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr auto kLimit = std::chrono::seconds(30);  // only reached when something is broken

class AgentLoopTest : public ::testing::Test {
 protected:
  AgentLoopTest() {
    config_.name = "test-agent";
    config_.pool = "gpu";
    config_.slots = 1;
    config_.work_dir = tmp_.path() / "work";
    config_.cgroup_mode = "none";
    config_.snapshot_materialization = "copy";
    config_.kill_grace_seconds = 1;
    config_.drain_timeout_seconds = 60;
    config_.labels = {{"zone", "a"}};
  }

  ~AgentLoopTest() override {
    if (agent_ && !Stopped(std::chrono::seconds(0))) {
      agent_->Shutdown();
      Stopped(kLimit);
    }
    if (loop_.joinable()) loop_.join();
  }

  // Starts Agent::Run() on its own thread.
  void Start() {
    AgentDependencies dependencies;
    dependencies.link = &link_;
    dependencies.clock = &clock_;
    dependencies.commands = &commands_;
    dependencies.credential = credential_.get();
    // Time passes on the fake clock instead of the test waiting it out.
    dependencies.pause_before_retry = [this](std::chrono::milliseconds delay) {
      std::lock_guard lock(mutex_);
      pauses_.push_back(delay);
      contact_at_pauses_.push_back(agent_->LastServerContact());
      clock_.Advance(delay);
    };
    agent_ = std::make_unique<Agent>(config_, std::move(dependencies));
    exit_code_ = ran_.get_future();
    loop_ = std::thread([this] { ran_.set_value(agent_->Run()); });
  }

  // Whether Run() has returned within `limit`.
  bool Stopped(std::chrono::seconds limit) {
    return exit_code_.valid() && exit_code_.wait_for(limit) == std::future_status::ready;
  }
  int ExitCode() {
    EXPECT_TRUE(Stopped(kLimit)) << "the agent did not stop";
    return Stopped(std::chrono::seconds(0)) ? exit_code_.get() : -1;
  }

  // The next poll, which the test must get (the agent polls all the time it runs).
  runyard::v1::PollRequest NextPoll() {
    std::optional<runyard::v1::PollRequest> poll = link_.NextPoll();
    EXPECT_TRUE(poll.has_value()) << "the agent sent no poll";
    return poll.value_or(runyard::v1::PollRequest{});
  }

  // An assignment of `run_id` running `script` with /bin/sh, its snapshot on the fake server.
  runyard::v1::Assignment Assignment(const std::string& run_id, const std::string& script) {
    const fs::path source = tmp_.path() / ("src-" + run_id);
    fs::create_directories(source);
    std::ofstream(source / "train.sh") << script;
    absl::StatusOr<cli::BuiltSnapshot> built = cli::BuildSnapshot(source, "");
    EXPECT_TRUE(built.ok()) << built.status();
    common::CasDirectory& server = link_.blob_source().server();
    for (const auto& [digest, file] : built->file_of_digest) EXPECT_TRUE(server.PutFile(file).ok());
    EXPECT_TRUE(server.Put(built->manifest_bytes).ok());

    runyard::v1::Assignment assignment;
    assignment.mutable_lease()->set_run_id(run_id);
    assignment.mutable_lease()->set_lease_id("lease-" + run_id);
    assignment.mutable_lease()->set_fencing_token(1);
    runyard::v1::RunSpec& spec = *assignment.mutable_spec();
    spec.set_experiment("exp");
    spec.add_command("/bin/sh");
    spec.add_command("train.sh");
    spec.set_snapshot_id(built->id);
    return assignment;
  }

  static runyard::v1::PollResponse Assigning(const runyard::v1::Assignment& assignment) {
    runyard::v1::PollResponse response;
    *response.add_assignments() = assignment;
    return response;
  }

  runyard::v1::RunStatus EndOf(const std::string& run_id) { return FinalReport(run_id).status(); }
  runyard::v1::UpdateStatusRequest FinalReport(const std::string& run_id) {
    std::optional<runyard::v1::UpdateStatusRequest> end = link_.runs().WaitForEnd(run_id);
    EXPECT_TRUE(end.has_value()) << run_id << " never ended";
    return end.value_or(runyard::v1::UpdateStatusRequest{});
  }
  // Runs the agent stops (shutdown, drain timeout) fail as the agent's doing.
  void ExpectStoppedByTheAgent(const std::string& run_id) {
    const runyard::v1::UpdateStatusRequest end = FinalReport(run_id);
    EXPECT_EQ(end.status(), runyard::v1::FAILED);
    EXPECT_THAT(end.error().message(), HasSubstr("agent was shut down"));
  }

  // A FIFO the run's script blocks on (`read x < fifo`) until Release() writes to it.
  fs::path MakeGate() {
    const fs::path fifo = tmp_.path() / "gate";
    EXPECT_EQ(::mkfifo(fifo.c_str(), 0666), 0);
    return fifo;
  }
  void Release(const fs::path& fifo) { std::ofstream(fifo) << "go\n"; }

  std::vector<std::chrono::milliseconds> pauses() {
    std::lock_guard lock(mutex_);
    return pauses_;
  }
  std::vector<std::chrono::steady_clock::time_point> contact_at_pauses() {
    std::lock_guard lock(mutex_);
    return contact_at_pauses_;
  }

  testutil::ScopedTempDir tmp_;
  AgentConfig config_;
  FakeControlPlaneLink link_{tmp_.path() / "server-blobs"};
  FakeClock clock_;
  FakeCommandRunner commands_;  // no nvidia-smi: NotFound
  std::unique_ptr<AgentCredential> credential_;  // null unless the test sets one
  std::unique_ptr<Agent> agent_;
  std::promise<int> ran_;
  std::future<int> exit_code_;
  std::thread loop_;
  std::mutex mutex_;
  std::vector<std::chrono::milliseconds> pauses_;
  std::vector<std::chrono::steady_clock::time_point> contact_at_pauses_;
};

TEST_F(AgentLoopTest, RegistersWithItsCapabilitiesThenPolls) {
  Start();
  const runyard::v1::PollRequest poll = NextPoll();
  ASSERT_THAT(link_.registrations(), ::testing::SizeIs(1));
  const runyard::v1::RegisterRequest registration = link_.registrations()[0];
  EXPECT_EQ(registration.name(), "test-agent");
  EXPECT_EQ(registration.pool(), "gpu");
  EXPECT_EQ(registration.slots(), 1);
  EXPECT_GE(registration.capabilities().cpus(), 1);
  EXPECT_EQ(registration.capabilities().gpus_size(), 0);
  EXPECT_EQ(registration.capabilities().labels().at("zone"), "a");
  // The GPU probe went through the injected runner.
  ASSERT_THAT(commands_.commands(), ::testing::SizeIs(1));
  EXPECT_EQ(commands_.commands()[0].argv[0], "nvidia-smi");

  EXPECT_EQ(poll.agent_id(), "agent-1");
  EXPECT_EQ(poll.free_slots(), 1);
  EXPECT_FALSE(poll.draining());
  EXPECT_EQ(poll.wait_ms(), 10000);  // a third of the 30 s lease
  EXPECT_THAT(poll.held(), IsEmpty());

  link_.AnswerPoll();
  NextPoll();  // it polls again
  agent_->Shutdown();
  EXPECT_EQ(ExitCode(), 0);
}

TEST_F(AgentLoopTest, AssignmentRunsInASlotAndIsReportedThroughTheLink) {
  Start();
  NextPoll();
  link_.AnswerPoll(Assigning(Assignment("run-1", "echo hello from run-1\n")));

  // The slot is taken: the lease is held, no slot is free.
  const runyard::v1::PollRequest busy = NextPoll();
  EXPECT_EQ(busy.free_slots(), 0);
  ASSERT_EQ(busy.held_size(), 1);
  EXPECT_EQ(busy.held(0).run_id(), "run-1");
  EXPECT_EQ(busy.held(0).lease_id(), "lease-run-1");

  EXPECT_EQ(EndOf("run-1"), runyard::v1::COMPLETED);
  EXPECT_THAT(link_.runs().statuses("run-1"),
              ElementsAre(runyard::v1::PREPARING, runyard::v1::STARTING, runyard::v1::RUNNING,
                          runyard::v1::FINALIZING, runyard::v1::COMPLETED));
  EXPECT_EQ(link_.runs().file("run-1", "user_logs/std_log.txt"), "hello from run-1\n");

  // The run's end cuts the busy poll short (nothing could be assigned to it); the next one
  // offers the slot again.
  const runyard::v1::PollRequest free = NextPoll();
  EXPECT_EQ(free.free_slots(), 1);
  EXPECT_THAT(free.held(), IsEmpty());
  EXPECT_EQ(agent_->ActiveRuns(), 0);
  agent_->Shutdown();
  EXPECT_EQ(ExitCode(), 0);
}

TEST_F(AgentLoopTest, FreeSlotsCountDownAsRunsStart) {
  config_.slots = 2;
  const fs::path gate = MakeGate();
  Start();
  EXPECT_EQ(NextPoll().free_slots(), 2);
  link_.AnswerPoll(Assigning(Assignment("run-1", "read x < " + gate.string() + "\n")));
  EXPECT_EQ(NextPoll().free_slots(), 1);
  link_.AnswerPoll(Assigning(Assignment("run-2", "read x < " + gate.string() + "\n")));
  const runyard::v1::PollRequest full = NextPoll();
  EXPECT_EQ(full.free_slots(), 0);
  EXPECT_EQ(full.held_size(), 2);
  EXPECT_EQ(agent_->ActiveRuns(), 2);
  ASSERT_TRUE(link_.runs().WaitForStatus("run-1", runyard::v1::RUNNING));
  ASSERT_TRUE(link_.runs().WaitForStatus("run-2", runyard::v1::RUNNING));
  agent_->Shutdown();
  ExpectStoppedByTheAgent("run-1");
  ExpectStoppedByTheAgent("run-2");
  EXPECT_EQ(ExitCode(), 0);
}

TEST_F(AgentLoopTest, CancelInAPollReplyCancelsTheRun) {
  Start();
  NextPoll();
  link_.AnswerPoll(Assigning(Assignment("run-1", "echo started\nexec sleep 600\n")));
  NextPoll();
  ASSERT_TRUE(link_.runs().WaitForStatus("run-1", runyard::v1::RUNNING));
  runyard::v1::PollResponse cancel;
  cancel.add_cancel_run_ids("run-1");
  cancel.add_cancel_run_ids("run-unknown");  // not ours: ignored
  link_.AnswerPoll(cancel);
  EXPECT_EQ(EndOf("run-1"), runyard::v1::CANCELED);
  agent_->Shutdown();
  EXPECT_EQ(ExitCode(), 0);
}

TEST_F(AgentLoopTest, DrainTakesNoNewRunAndStopsWhenTheRunsEnd) {
  const fs::path gate = MakeGate();
  Start();
  NextPoll();
  link_.AnswerPoll(
      Assigning(Assignment("run-1", "read x < " + gate.string() + "\necho released\n")));
  NextPoll();  // held by the agent until the drain cuts it short
  agent_->Drain();
  EXPECT_TRUE(agent_->draining());
  const runyard::v1::PollRequest draining = NextPoll();
  EXPECT_TRUE(draining.draining());
  EXPECT_EQ(draining.free_slots(), 0);
  EXPECT_EQ(draining.held_size(), 1);
  EXPECT_FALSE(Stopped(std::chrono::seconds(0)));

  Release(gate);
  EXPECT_EQ(EndOf("run-1"), runyard::v1::COMPLETED);
  EXPECT_EQ(ExitCode(), 0);  // drained: no run left, no further poll needed
}

TEST_F(AgentLoopTest, IdleAgentThatDrainsStopsAtOnce) {
  Start();
  NextPoll();
  agent_->Drain();
  EXPECT_EQ(ExitCode(), 0);
}

TEST_F(AgentLoopTest, DrainTimeoutCancelsTheRunsWithoutWaitingForIt) {
  Start();
  NextPoll();
  link_.AnswerPoll(Assigning(Assignment("run-1", "exec sleep 600\n")));
  NextPoll();
  ASSERT_TRUE(link_.runs().WaitForStatus("run-1", runyard::v1::RUNNING));
  agent_->Drain();  // 60 s to finish, on the fake clock
  EXPECT_EQ(NextPoll().wait_ms(), 10000);

  clock_.Advance(std::chrono::seconds(55));
  link_.AnswerPoll();
  // Polls end by the drain deadline, so the agent sees it pass.
  EXPECT_EQ(NextPoll().wait_ms(), 5001);
  EXPECT_FALSE(Stopped(std::chrono::seconds(0)));

  clock_.Advance(std::chrono::seconds(5));
  link_.AnswerPoll();
  ExpectStoppedByTheAgent("run-1");
  EXPECT_EQ(ExitCode(), 0);
}

TEST_F(AgentLoopTest, RegisterErrorsAreRetriedWithBackoffAndDoNotCountAsContact) {
  for (int i = 0; i < 7; ++i) link_.ScriptRegister(absl::UnavailableError("connection refused"));
  Start();
  NextPoll();
  EXPECT_THAT(link_.registrations(), ::testing::SizeIs(8));
  using std::chrono::milliseconds;
  EXPECT_THAT(pauses(), ElementsAre(milliseconds(200), milliseconds(400), milliseconds(800),
                                    milliseconds(1600), milliseconds(3200), milliseconds(5000),
                                    milliseconds(5000)));
  for (const auto contact : contact_at_pauses())
    EXPECT_EQ(contact, std::chrono::steady_clock::time_point{});
  // Contact is when the server answered: after the 16.2 s of retries.
  EXPECT_EQ(agent_->LastServerContact(), clock_.SteadyNow());
  EXPECT_EQ(clock_.SteadyNow() - FakeClock().SteadyNow(), milliseconds(16200));
  agent_->Shutdown();
  EXPECT_EQ(ExitCode(), 0);
}

TEST_F(AgentLoopTest, RefusedRegistrationStopsTheAgentWithAnError) {
  link_.ScriptRegister(absl::InvalidArgumentError("pool name is not valid"));
  Start();
  EXPECT_EQ(ExitCode(), 1);
  EXPECT_THAT(pauses(), IsEmpty());
}

TEST_F(AgentLoopTest, PollErrorsAreRetriedAndOnlyAnswersMoveTheContactTime) {
  Start();
  NextPoll();
  const auto registered = agent_->LastServerContact();
  EXPECT_EQ(registered, clock_.SteadyNow());
  clock_.Advance(std::chrono::seconds(5));
  link_.AnswerPoll();
  NextPoll();
  const auto answered = agent_->LastServerContact();
  EXPECT_EQ(answered, registered + std::chrono::seconds(5));

  clock_.Advance(std::chrono::seconds(5));
  link_.FailPoll(absl::UnavailableError("server went away"));
  NextPoll();  // retried
  EXPECT_THAT(pauses(), ElementsAre(std::chrono::milliseconds(1000)));
  EXPECT_EQ(agent_->LastServerContact(), answered);

  link_.AnswerPoll();
  NextPoll();
  EXPECT_EQ(agent_->LastServerContact(), answered + std::chrono::seconds(6));
  agent_->Shutdown();
  EXPECT_EQ(ExitCode(), 0);
}

TEST_F(AgentLoopTest, RefusedCredentialAtRegistrationStopsTheAgentWithAnError) {
  link_.ScriptRegister(absl::UnauthenticatedError("token 000000000000 is not known"));
  Start();
  EXPECT_EQ(ExitCode(), 1);
  EXPECT_THAT(pauses(), IsEmpty()) << "a refusal is not retried";
  EXPECT_THAT(link_.registrations(), ::testing::SizeIs(1));
}

TEST_F(AgentLoopTest, RevokedCredentialAtAPollStopsTheRunsAndTheAgent) {
  Start();
  NextPoll();
  link_.AnswerPoll(Assigning(Assignment("run-1", "exec sleep 600\n")));
  NextPoll();
  ASSERT_TRUE(link_.runs().WaitForStatus("run-1", runyard::v1::RUNNING));
  link_.FailPoll(absl::UnauthenticatedError("token 1a2b3c4d5e6f was revoked"));
  ExpectStoppedByTheAgent("run-1");
  EXPECT_EQ(ExitCode(), 1);
  EXPECT_THAT(pauses(), IsEmpty()) << "a refusal is not retried";
}

TEST_F(AgentLoopTest, RegistrationSwitchesToTheAgentTokenAndKeepsIt) {
  const fs::path token_file = AgentTokenFile(config_.work_dir);
  credential_ = std::move(AgentCredential::Load(token_file, "ryj_join", "join-token-file")).value();
  runyard::v1::RegisterResponse enrolled;
  enrolled.set_agent_id("agent-1");
  enrolled.set_lease_seconds(30);
  enrolled.set_agent_token("rya_issued");
  link_.ScriptRegister(enrolled);
  Start();
  NextPoll();
  EXPECT_EQ(credential_->source()->Get(), "rya_issued");
  EXPECT_TRUE(credential_->presents_agent_token());
  EXPECT_EQ(common::ReadFileOrEmpty(token_file), "rya_issued\n");
  // Registering again (the server forgot the agent) keeps presenting it.
  link_.FailPoll(absl::NotFoundError("no agent agent-1"));
  NextPoll();
  EXPECT_THAT(link_.registrations(), ::testing::SizeIs(2));
  EXPECT_EQ(credential_->source()->Get(), "rya_issued");
  agent_->Shutdown();
  EXPECT_EQ(ExitCode(), 0);
}

TEST_F(AgentLoopTest, UnknownAgentRegistersAgain) {
  Start();
  NextPoll();
  link_.FailPoll(absl::NotFoundError("no agent agent-1"));
  NextPoll();
  EXPECT_THAT(link_.registrations(), ::testing::SizeIs(2));
  agent_->Shutdown();
  EXPECT_EQ(ExitCode(), 0);
}

TEST_F(AgentLoopTest, ShutdownStopsTheRunsNow) {
  Start();
  NextPoll();
  link_.AnswerPoll(Assigning(Assignment("run-1", "exec sleep 600\n")));
  NextPoll();
  ASSERT_TRUE(link_.runs().WaitForStatus("run-1", runyard::v1::RUNNING));
  agent_->Shutdown();
  ExpectStoppedByTheAgent("run-1");
  EXPECT_EQ(ExitCode(), 0);
}

TEST_F(AgentLoopTest, RegistersTheAddressOtherNodesReachItAt) {
  config_.network_interface = "lo";
  Start();
  NextPoll();
  ASSERT_THAT(link_.registrations(), ::testing::SizeIs(1));
  EXPECT_EQ(link_.registrations()[0].address(), "127.0.0.1");  // lo's IPv4 address
  agent_->Shutdown();
  EXPECT_EQ(ExitCode(), 0);
}

TEST_F(AgentLoopTest, AdvertiseAddressWinsOverTheInterface) {
  config_.network_interface = "lo";
  config_.advertise_address = "node-7.example";
  Start();
  NextPoll();
  EXPECT_EQ(link_.registrations()[0].address(), "node-7.example");
  agent_->Shutdown();
  EXPECT_EQ(ExitCode(), 0);
}

// A node of a distributed run: the agent hands the gang placement to the runner, which
// starts this node's ranks; the terminal report carries how each ended, the files arrive
// at the node's paths, and the node takes one slot.
TEST_F(AgentLoopTest, GangNodeRunsItsRanksAndReportsThem) {
  config_.network_interface = "lo";
  const fs::path gate = tmp_.path() / "gang-gate";  // the ranks wait for it
  Start();
  NextPoll();
  runyard::v1::Assignment assignment = Assignment(
      "run-g", "while [ ! -e " + gate.string() + " ]; do sleep 0.01; done\n"
               "echo \"rank $RANK via $GLOO_SOCKET_IFNAME\"\n[ \"$RANK\" = 3 ] && exit 3\nexit 0\n");
  runyard::v1::RunSpec& spec = *assignment.mutable_spec();
  spec.clear_command();
  spec.set_script("train.sh");
  spec.mutable_environment()->mutable_python()->set_user_managed_dependencies(true);
  spec.mutable_environment()->mutable_python()->set_interpreter_path("/bin/sh");
  spec.mutable_distributed_job_config()->mutable_pytorch()->set_process_count(4);
  spec.mutable_distributed_job_config()->mutable_pytorch()->set_node_count(2);
  runyard::v1::GangPlacement& gang = *assignment.mutable_gang();
  gang.set_node_rank(1);
  gang.set_base_port(29555);
  gang.set_port_count(1);
  for (int k = 0; k < 2; ++k) {
    runyard::v1::GangNode& node = *gang.add_nodes();
    node.set_node_rank(k);
    node.set_address("127.0.0.1");
    node.set_hostname("h" + std::to_string(k));
  }
  link_.AnswerPoll(Assigning(assignment));
  EXPECT_EQ(NextPoll().free_slots(), 0);  // one slot, like any run
  std::ofstream(gate) << "go";

  const runyard::v1::UpdateStatusRequest end = FinalReport("run-g");
  EXPECT_EQ(end.status(), runyard::v1::FAILED);
  EXPECT_EQ(end.exit_code(), 3);
  EXPECT_THAT(end.error().message(), HasSubstr("rank 3 (node 1, host h1) exited with code 3"));
  ASSERT_EQ(end.ranks_size(), 2);
  EXPECT_EQ(end.ranks(0).rank(), 2);
  EXPECT_EQ(end.ranks(0).node_rank(), 1);
  EXPECT_EQ(end.ranks(1).rank(), 3);
  EXPECT_EQ(end.ranks(1).exit_code(), 3);
  EXPECT_EQ(link_.runs().file("run-g", "user_logs/std_log_process_2.txt"), "rank 2 via lo\n");
  EXPECT_THAT(link_.runs().file("run-g", "user_logs/std_log_node_1.txt"),
              HasSubstr("rank 3 exited with code 3"));
  agent_->Shutdown();
  EXPECT_EQ(ExitCode(), 0);
}

}  // namespace
}  // namespace runyard::agent
