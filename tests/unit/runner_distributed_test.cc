// Tests for runtime/runner.h with distributed specs (issue 16): the local target (every
// rank here, through runyard-ranks), a node of a server placement (its files at node
// paths), a per-node launch, one fate (rank 3 exits 3: the run fails naming it, nothing of
// any rank survives), a cancel, the rank logs live, and the same under bubblewrap.
// The ranks are /bin/sh scripts, run as the spec's "interpreter".

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli/snapshot_builder.h"
#include "common/distributed_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/runner.h"
#include "sandbox/bubblewrap.h"
#include "tests/fakes/fake_blob_source.h"
#include "tests/fakes/recording_observer.h"
#include "tests/unit/scoped_temp_dir.h"
#include "common/read_file.h"
#include "tests/unit/wait_for.h"

namespace runyard::runtime {
namespace {

namespace fs = std::filesystem;
using ::runyard::fakes::FakeBlobSource;
using ::runyard::fakes::RecordingObserver;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr auto kPatience = std::chrono::seconds(30);  // only reached when something is broken

// KEY=VALUE lines as a map.
std::map<std::string, std::string> Variables(const std::string& text) {
  std::map<std::string, std::string> variables;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const size_t eq = line.find('=');
    if (eq != std::string::npos) variables[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return variables;
}

std::string HostName() {
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  return name;
}

// Writes the rank's distributed variables (and one of the run's own) to outputs/.
constexpr char kEnvScript[] =
    "env | grep -E '^(RANK|LOCAL_RANK|WORLD_SIZE|LOCAL_WORLD_SIZE|NODE_RANK|GROUP_RANK|"
    "MASTER_ADDR|MASTER_PORT|GLOO_SOCKET_IFNAME|NCCL_SOCKET_IFNAME|NNODES|NPROC_PER_NODE|"
    "RUNYARD_RUN_ID|TF_CONFIG)=' | sort > outputs/env_${RANK:-node$NODE_RANK}.txt\n"
    "echo \"rank $RANK says hi\"\n";

class RunnerDistributedTest : public ::testing::Test {
 protected:
  // A PyTorch spec of `processes` over `nodes` running `script` with /bin/sh.
  runyard::v1::RunSpec PyTorchSpec(const std::string& script, int processes, int nodes) {
    auto* pytorch = spec_config_.mutable_pytorch();
    pytorch->set_process_count(processes);
    pytorch->set_node_count(nodes);
    pytorch->set_communication_backend("gloo");
    return Spec(script);
  }

  // A spec of `spec_config_` running `script` with /bin/sh, from an uploaded snapshot.
  runyard::v1::RunSpec Spec(const std::string& script) {
    const fs::path source = tmp_.path() / "src";
    fs::create_directories(source);
    std::ofstream(source / "train.sh") << script;
    runyard::v1::RunSpec spec;
    spec.set_experiment("exp");
    spec.set_script("train.sh");
    spec.mutable_environment()->mutable_python()->set_user_managed_dependencies(true);
    spec.mutable_environment()->mutable_python()->set_interpreter_path("/bin/sh");
    *spec.mutable_distributed_job_config() = spec_config_;
    EXPECT_TRUE(common::NormalizeDistributedConfig(&spec).ok());
    absl::StatusOr<cli::BuiltSnapshot> built = cli::BuildSnapshot(source, "");
    EXPECT_TRUE(built.ok()) << built.status();
    for (const auto& [digest, file] : built->file_of_digest) EXPECT_TRUE(blobs_.server().PutFile(file).ok());
    EXPECT_TRUE(blobs_.server().Put(built->manifest_bytes).ok());
    spec.set_snapshot_id(built->id);
    return spec;
  }

  RunnerOptions Options() {
    RunnerOptions options;
    options.work_dir = tmp_.path() / "work";
    options.cache = &cache_;
    options.materialization = Materialization::kCopy;
    options.kill_grace = std::chrono::milliseconds(1000);
    options.sync_interval = std::chrono::milliseconds(100);
    options.bubblewrap = bubblewrap_;
    return options;
  }

  RunOutcome Run(const runyard::v1::RunSpec& spec, RecordingObserver& observer,
                 const runyard::v1::GangPlacement* placement = nullptr) {
    Runner runner(Options(), &blobs_, &observer);
    return runner.Run("run_1", spec, cancel_, placement);
  }

  fs::path outputs() const { return tmp_.path() / "work" / "runs" / "run_1" / "wd" / "outputs"; }

  // The pids the ranks wrote to outputs/pid_<rank>, once every one of them did.
  std::vector<pid_t> WaitForPids(int ranks) {
    std::vector<pid_t> pids;
    for (int rank = 0; rank < ranks; ++rank) {
      const fs::path file = outputs() / ("pid_" + std::to_string(rank));
      EXPECT_TRUE(testutil::PollUntil([&] { return common::ReadFileOrEmpty(file).find('\n') != std::string::npos; },
                                      kPatience));
      pids.push_back(std::atoi(common::ReadFileOrEmpty(file).c_str()));
    }
    return pids;
  }

  runyard::v1::DistributedJobConfig spec_config_;
  testutil::ScopedTempDir tmp_;
  FakeBlobSource blobs_{tmp_.path() / "server-blobs"};
  BlobCache cache_{tmp_.path() / "node-cache", 0};
  std::optional<sandbox::BubblewrapPolicy> bubblewrap_;
  CancelToken cancel_;
};

TEST_F(RunnerDistributedTest, LocalTargetRunsEveryRankWithItsEnvironment) {
  RecordingObserver observer;
  const RunOutcome outcome = Run(PyTorchSpec(kEnvScript, 4, 2), observer);
  ASSERT_EQ(outcome.status, runyard::v1::COMPLETED) << outcome.error.message();
  EXPECT_THAT(observer.statuses(), ElementsAre(runyard::v1::PREPARING, runyard::v1::STARTING,
                                               runyard::v1::RUNNING, runyard::v1::FINALIZING));
  std::string master_port;
  for (int rank = 0; rank < 4; ++rank) {
    const auto env = Variables(observer.file("outputs/env_" + std::to_string(rank) + ".txt"));
    EXPECT_EQ(env.at("RANK"), std::to_string(rank));
    EXPECT_EQ(env.at("LOCAL_RANK"), std::to_string(rank % 2));
    EXPECT_EQ(env.at("NODE_RANK"), std::to_string(rank / 2));
    EXPECT_EQ(env.at("GROUP_RANK"), std::to_string(rank / 2));
    EXPECT_EQ(env.at("WORLD_SIZE"), "4");
    EXPECT_EQ(env.at("LOCAL_WORLD_SIZE"), "2");
    EXPECT_EQ(env.at("MASTER_ADDR"), "127.0.0.1");
    EXPECT_EQ(env.at("GLOO_SOCKET_IFNAME"), "lo");
    EXPECT_EQ(env.at("RUNYARD_RUN_ID"), "run_1");  // the run's own environment too
    if (rank == 0) master_port = env.at("MASTER_PORT");
    EXPECT_EQ(env.at("MASTER_PORT"), master_port);
    EXPECT_EQ(observer.file(common::RankLogPath(rank)),
              "rank " + std::to_string(rank) + " says hi\n");
  }
  EXPECT_GT(std::stoi(master_port), 0);
  ASSERT_THAT(outcome.ranks, SizeIs(4));
  for (int rank = 0; rank < 4; ++rank) {
    EXPECT_EQ(outcome.ranks[rank].rank(), rank);
    EXPECT_TRUE(outcome.ranks[rank].started());
    EXPECT_TRUE(outcome.ranks[rank].exited());
    EXPECT_EQ(outcome.ranks[rank].exit_code(), 0);
    EXPECT_EQ(outcome.ranks[rank].node_rank(), rank / 2);
    EXPECT_EQ(outcome.ranks[rank].local_rank(), rank % 2);
  }
  EXPECT_EQ(observer.outcome().ranks.size(), 4u);  // the observer is told them too
  EXPECT_THAT(observer.file("user_logs/std_log.txt"), HasSubstr("started 4 ranks"));
  EXPECT_THAT(observer.file("system_logs/runtime.txt"),
              HasSubstr("distributed pytorch (one process per rank): all 2 node(s) on this machine"));
}

TEST_F(RunnerDistributedTest, RankThreeExitingThreeFailsTheRunNamingItAndNoRankSurvives) {
  RecordingObserver observer;
  const std::string script =
      "echo $$ > outputs/pid_$RANK.tmp && mv outputs/pid_$RANK.tmp outputs/pid_$RANK\n"
      "if [ \"$RANK\" = 3 ]; then\n"
      "  while [ ! -e outputs/pid_0 ] || [ ! -e outputs/pid_1 ] || [ ! -e outputs/pid_2 ]; do sleep 0.01; done\n"
      "  echo failing; exit 3\n"
      "fi\n"
      "exec sleep 1000\n";
  const auto start = std::chrono::steady_clock::now();
  const RunOutcome outcome = Run(PyTorchSpec(script, 4, 2), observer);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
  EXPECT_EQ(outcome.status, runyard::v1::FAILED);
  EXPECT_EQ(outcome.error.code(), "UserError");
  EXPECT_EQ(outcome.error.message(), "rank 3 (node 1, host " + HostName() +
                                         ") exited with code 3; see user_logs/std_log_process_3.txt");
  EXPECT_TRUE(outcome.has_exit_code);
  EXPECT_EQ(outcome.exit_code, 3);
  ASSERT_THAT(outcome.ranks, SizeIs(4));
  EXPECT_EQ(outcome.ranks[3].exit_code(), 3);
  for (int rank = 0; rank < 3; ++rank) EXPECT_EQ(outcome.ranks[rank].term_signal(), SIGTERM);
  EXPECT_EQ(observer.file(common::RankLogPath(3)), "failing\n");
  for (const pid_t pid : WaitForPids(4)) EXPECT_TRUE(testutil::NotRunning(pid)) << pid;
}

TEST_F(RunnerDistributedTest, RankLogsAreStreamedWhileTheRunRuns) {
  RecordingObserver observer;
  const fs::path gate = tmp_.path() / "gate";
  const std::string script = "echo \"ready $RANK\"\nwhile [ ! -e " + gate.string() +
                             " ]; do sleep 0.02; done\necho done\n";
  std::thread releaser([&] {
    // Rank 1's line reaches the observer while every rank still waits on the gate.
    EXPECT_TRUE(testutil::PollUntil(
        [&] { return observer.file(common::RankLogPath(1)) == "ready 1\n"; }, kPatience));
    EXPECT_THAT(observer.statuses(), ::testing::Contains(runyard::v1::RUNNING));
    std::ofstream(gate) << "go";
  });
  const RunOutcome outcome = Run(PyTorchSpec(script, 2, 1), observer);
  releaser.join();
  EXPECT_EQ(outcome.status, runyard::v1::COMPLETED) << outcome.error.message();
  EXPECT_EQ(observer.file(common::RankLogPath(0)), "ready 0\ndone\n");
}

TEST_F(RunnerDistributedTest, CancelStopsEveryRank) {
  RecordingObserver observer;
  const std::string script =
      "echo $$ > outputs/pid_$RANK.tmp && mv outputs/pid_$RANK.tmp outputs/pid_$RANK\n"
      "exec sleep 1000\n";
  std::vector<pid_t> pids;
  std::thread canceller([&] {
    pids = WaitForPids(4);
    cancel_.RequestCancel();
  });
  const RunOutcome outcome = Run(PyTorchSpec(script, 4, 2), observer);
  canceller.join();
  EXPECT_EQ(outcome.status, runyard::v1::CANCELED);
  EXPECT_EQ(outcome.error.code(), "Canceled");
  for (const pid_t pid : pids) EXPECT_TRUE(testutil::NotRunning(pid)) << pid;
}

TEST_F(RunnerDistributedTest, NodeOfAServerPlacementStartsItsRanksAndWritesAtNodePaths) {
  runyard::v1::GangPlacement placement;
  placement.set_node_rank(1);
  placement.set_base_port(29877);
  placement.set_port_count(1);
  for (int k = 0; k < 2; ++k) {
    runyard::v1::GangNode* node = placement.add_nodes();
    node->set_node_rank(k);
    node->set_agent_id("agent-" + std::to_string(k));
    node->set_address("10.9.0." + std::to_string(k + 1));
    node->set_hostname("h" + std::to_string(k));
  }
  RecordingObserver observer;
  const RunOutcome outcome = Run(PyTorchSpec(kEnvScript, 4, 2), observer, &placement);
  ASSERT_EQ(outcome.status, runyard::v1::COMPLETED) << outcome.error.message();
  const auto env = Variables(observer.file("outputs/node_1/env_3.txt"));
  EXPECT_EQ(env.at("RANK"), "3");
  EXPECT_EQ(env.at("NODE_RANK"), "1");
  EXPECT_EQ(env.at("MASTER_ADDR"), "10.9.0.1");
  EXPECT_EQ(env.at("MASTER_PORT"), "29877");
  EXPECT_FALSE(env.contains("GLOO_SOCKET_IFNAME"));  // no interface configured
  EXPECT_EQ(observer.file(common::RankLogPath(2)), "rank 2 says hi\n");
  EXPECT_THAT(observer.file("user_logs/std_log_node_1.txt"), HasSubstr("started 2 ranks"));
  EXPECT_THAT(observer.file("system_logs/node_1/runtime.txt"), HasSubstr("node 1 of 2"));
  EXPECT_EQ(observer.file("user_logs/std_log.txt"), "<never reported>");
  ASSERT_THAT(outcome.ranks, SizeIs(2));
  EXPECT_EQ(outcome.ranks[0].rank(), 2);
  EXPECT_EQ(outcome.ranks[1].rank(), 3);
}

TEST_F(RunnerDistributedTest, FailingRankOfAServerNodeIsNamedWithItsHost) {
  runyard::v1::GangPlacement placement;
  placement.set_node_rank(1);
  placement.set_base_port(29878);
  for (int k = 0; k < 2; ++k) {
    runyard::v1::GangNode* node = placement.add_nodes();
    node->set_node_rank(k);
    node->set_address("10.9.0." + std::to_string(k + 1));
    node->set_hostname("h" + std::to_string(k));
  }
  RecordingObserver observer;
  const RunOutcome outcome =
      Run(PyTorchSpec("[ \"$RANK\" = 3 ] && exit 3\nexit 0\n", 4, 2), observer, &placement);
  EXPECT_EQ(outcome.status, runyard::v1::FAILED);
  EXPECT_THAT(outcome.error.message(), HasSubstr("rank 3 (node 1, host h1) exited with code 3"));
}

TEST_F(RunnerDistributedTest, PerNodeCommandOnTheLocalTargetIsOneProcessPerNode) {
  RecordingObserver observer;
  runyard::v1::RunSpec spec = PyTorchSpec(kEnvScript, 4, 2);
  spec.clear_script();
  spec.add_command("/bin/sh");
  spec.add_command("train.sh");
  const RunOutcome outcome = Run(spec, observer);
  ASSERT_EQ(outcome.status, runyard::v1::COMPLETED) << outcome.error.message();
  for (int node = 0; node < 2; ++node) {
    const auto env = Variables(observer.file("outputs/env_node" + std::to_string(node) + ".txt"));
    EXPECT_EQ(env.at("NODE_RANK"), std::to_string(node));
    EXPECT_EQ(env.at("NNODES"), "2");
    EXPECT_EQ(env.at("NPROC_PER_NODE"), "2");
    EXPECT_EQ(env.at("WORLD_SIZE"), "4");
    EXPECT_FALSE(env.contains("RANK"));
  }
  EXPECT_THAT(observer.file("user_logs/std_log.txt"), HasSubstr("rank  says hi"));  // node 0's
  EXPECT_EQ(observer.file("user_logs/std_log_node_1.txt"), "rank  says hi\n");
  EXPECT_TRUE(outcome.ranks.empty());  // the command starts the ranks; runyard does not know them
}

TEST_F(RunnerDistributedTest, SandboxedRanksRunAndReportTheirLogs) {
  absl::StatusOr<fs::path> bwrap = sandbox::CheckBubblewrap("bwrap");
  if (!bwrap.ok()) GTEST_SKIP() << bwrap.status().message();
  bubblewrap_.emplace().bwrap = *bwrap;
  bubblewrap_->hidden.push_back(tmp_.path() / "work");  // as the agent hides its work dir
  RecordingObserver observer;
  const RunOutcome outcome = Run(PyTorchSpec(kEnvScript, 2, 1), observer);
  ASSERT_EQ(outcome.status, runyard::v1::COMPLETED)
      << outcome.error.message() << "\n" << observer.file("user_logs/std_log.txt");
  EXPECT_EQ(observer.file(common::RankLogPath(1)), "rank 1 says hi\n");
  EXPECT_EQ(Variables(observer.file("outputs/env_1.txt")).at("RANK"), "1");
  ASSERT_THAT(outcome.ranks, SizeIs(2));
  EXPECT_THAT(observer.file("system_logs/runtime.txt"), HasSubstr("sandboxed by bubblewrap"));
}

TEST_F(RunnerDistributedTest, TensorflowTasksGetTheirTfConfigOnTheLocalTarget) {
  auto* tensorflow = spec_config_.mutable_tensorflow();
  tensorflow->set_worker_count(2);
  tensorflow->set_parameter_server_count(1);
  tensorflow->set_node_count(2);
  RecordingObserver observer;
  const RunOutcome outcome = Run(Spec(kEnvScript), observer);
  ASSERT_EQ(outcome.status, runyard::v1::COMPLETED) << outcome.error.message();
  const auto worker = Variables(observer.file("outputs/env_1.txt"));
  const auto ps = Variables(observer.file("outputs/env_2.txt"));
  EXPECT_THAT(worker.at("TF_CONFIG"), HasSubstr("\"task\":{\"index\":1,\"type\":\"worker\"}"));
  EXPECT_THAT(ps.at("TF_CONFIG"), HasSubstr("\"task\":{\"index\":0,\"type\":\"ps\"}"));
  EXPECT_EQ(worker.at("TF_CONFIG").substr(0, worker.at("TF_CONFIG").find("\"task\"")),
            ps.at("TF_CONFIG").substr(0, ps.at("TF_CONFIG").find("\"task\"")));  // one cluster
  ASSERT_THAT(outcome.ranks, SizeIs(3));
  EXPECT_EQ(outcome.ranks[2].node_rank(), 1);
}

TEST_F(RunnerDistributedTest, MpiWithoutMpirunIsAnEnvironmentFailure) {
  spec_config_.mutable_mpi()->set_process_count_per_node(2);
  runyard::v1::RunSpec spec = Spec(kEnvScript);
  (*spec.mutable_environment()->mutable_environment_variables())["PATH"] =
      (tmp_.path() / "empty-path").string();
  RecordingObserver observer;
  const RunOutcome outcome = Run(spec, observer);
  EXPECT_EQ(outcome.status, runyard::v1::FAILED);
  EXPECT_EQ(outcome.error.code(), "EnvironmentBuildFailed");
  EXPECT_THAT(outcome.error.message(), HasSubstr("an MPI run needs mpirun on the node"));
}

}  // namespace
}  // namespace runyard::runtime
