// Tests for what the CLI shows of distributed runs: which log `runyard logs` picks
// (cli/log_selection.h), --all's line prefixes, and the nodes in `runyard status` / `show`
// (cli/run_nodes.h, cli/render.h, cli/run_details.h).

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "cli/log_selection.h"
#include "cli/render.h"
#include "cli/run_details.h"
#include "cli/run_nodes.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace runyard::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

runyard::v1::Run PlainRun() {
  runyard::v1::Run run;
  run.set_run_id("run-1");
  run.mutable_spec()->set_script("train.py");
  return run;
}

runyard::v1::Run PyTorchRun(int processes, int nodes) {
  runyard::v1::Run run = PlainRun();
  auto* pytorch = run.mutable_spec()->mutable_distributed_job_config()->mutable_pytorch();
  pytorch->set_process_count(processes);
  pytorch->set_node_count(nodes);
  pytorch->set_communication_backend("gloo");
  return run;
}

std::vector<std::string> Paths(const absl::StatusOr<std::vector<LogSource>>& sources) {
  std::vector<std::string> paths;
  if (!sources.ok()) return {std::string(sources.status().message())};
  for (const auto& source : *sources) paths.push_back(source.prefix() + source.path);
  return paths;
}

std::string ErrorOf(const runyard::v1::Run& run, const LogChoice& choice) {
  absl::StatusOr<std::vector<LogSource>> sources = SelectLogs(run, choice);
  EXPECT_TRUE(absl::IsInvalidArgument(sources.status())) << sources.status();
  return std::string(sources.status().message());
}

TEST(SelectLogsTest, APlainRunShowsItsOwnLog) {
  EXPECT_EQ(Paths(SelectLogs(PlainRun(), {})), std::vector<std::string>{"user_logs/std_log.txt"});
  EXPECT_EQ(Paths(SelectLogs(PlainRun(), {.rank = 0})), std::vector<std::string>{"user_logs/std_log.txt"});
  EXPECT_EQ(Paths(SelectLogs(PlainRun(), {.node = 0})), std::vector<std::string>{"user_logs/std_log.txt"});
  EXPECT_EQ(Paths(SelectLogs(PlainRun(), {.all = true})),
            std::vector<std::string>{"[rank 0] user_logs/std_log.txt"});
  EXPECT_EQ(ErrorOf(PlainRun(), {.rank = 1}),
            "run run-1 is not distributed: its only rank is 0 (runyard logs run-1)");
  EXPECT_EQ(ErrorOf(PlainRun(), {.node = 1}), "run run-1 runs on one node: its only node is 0");
}

TEST(SelectLogsTest, APerProcessRunShowsRankZeroByDefault) {
  const runyard::v1::Run run = PyTorchRun(4, 2);
  EXPECT_EQ(Paths(SelectLogs(run, {})), std::vector<std::string>{"user_logs/std_log_process_0.txt"});
  EXPECT_EQ(Paths(SelectLogs(run, {.rank = 3})), std::vector<std::string>{"user_logs/std_log_process_3.txt"});
  EXPECT_EQ(Paths(SelectLogs(run, {.node = 1})), std::vector<std::string>{"user_logs/std_log_node_1.txt"});
  EXPECT_EQ(Paths(SelectLogs(run, {.all = true})),
            (std::vector<std::string>{"[rank 0] user_logs/std_log_process_0.txt",
                                      "[rank 1] user_logs/std_log_process_1.txt",
                                      "[rank 2] user_logs/std_log_process_2.txt",
                                      "[rank 3] user_logs/std_log_process_3.txt"}));
  EXPECT_EQ(ErrorOf(run, {.rank = 4}), "run run-1 has ranks 0..3 (4 processes): there is no rank 4");
  EXPECT_EQ(ErrorOf(run, {.node = 2}), "run run-1 has nodes 0..1: there is no node 2");
  EXPECT_EQ(ErrorOf(run, {.rank = 1, .node = 1}), "give one of --rank, --node and --all");
}

TEST(SelectLogsTest, APerNodeLaunchHasNodeLogsOnly) {
  runyard::v1::Run run = PyTorchRun(4, 2);
  run.mutable_spec()->clear_script();
  run.mutable_spec()->add_command("torchrun");
  EXPECT_EQ(Paths(SelectLogs(run, {})), std::vector<std::string>{"user_logs/std_log.txt"});
  EXPECT_EQ(Paths(SelectLogs(run, {.rank = 0})), std::vector<std::string>{"user_logs/std_log.txt"});
  EXPECT_EQ(Paths(SelectLogs(run, {.all = true})),
            (std::vector<std::string>{"[node 0] user_logs/std_log.txt", "[node 1] user_logs/std_log_node_1.txt"}));
  EXPECT_THAT(ErrorOf(run, {.rank = 2}), HasSubstr("starts one process per node (pytorch command)"));
  EXPECT_THAT(ErrorOf(run, {.rank = 2}), HasSubstr("--node K (0..1) or --all"));
}

TEST(SelectLogsTest, DefaultLogPathFollowsTheLaunch) {
  EXPECT_EQ(DefaultLogPath(PlainRun().spec()), "user_logs/std_log.txt");
  EXPECT_EQ(DefaultLogPath(PyTorchRun(2, 1).spec()), "user_logs/std_log_process_0.txt");
  runyard::v1::RunSpec mpi = PlainRun().spec();
  mpi.mutable_distributed_job_config()->mutable_mpi()->set_process_count_per_node(2);
  EXPECT_EQ(DefaultLogPath(mpi), "user_logs/std_log.txt");  // mpirun's: every rank's lines
  runyard::v1::Run mpi_run = PlainRun();
  *mpi_run.mutable_spec() = mpi;
  ASSERT_TRUE(SelectLogs(mpi_run, {.rank = 1}).ok());
  EXPECT_EQ(SelectLogs(mpi_run, {.rank = 1})->at(0).path, "user_logs/std_log_process_1.txt");
}

TEST(LinePrefixerTest, PassesWholeLinesOnlyAndFlushesTheRest) {
  LinePrefixer prefixer("[rank 2] ");
  EXPECT_EQ(prefixer.Add("step 1"), "");
  EXPECT_EQ(prefixer.Add(" done\nstep"), "[rank 2] step 1 done\n");
  EXPECT_EQ(prefixer.Add(" 2\n\nstep 3"), "[rank 2] step 2\n[rank 2] \n");
  EXPECT_EQ(prefixer.Flush(), "[rank 2] step 3\n");
  EXPECT_EQ(prefixer.Flush(), "");
  EXPECT_EQ(PrefixLines("a\nb", "> "), "> a\n> b\n");
  EXPECT_EQ(PrefixLines("", "> "), "");
}

runyard::v1::RankResult Rank(int rank, int node_rank, bool exited, int exit_code, int term_signal = 0) {
  runyard::v1::RankResult result;
  result.set_rank(rank);
  result.set_node_rank(node_rank);
  result.set_started(true);
  result.set_exited(exited);
  result.set_exit_code(exit_code);
  result.set_term_signal(term_signal);
  return result;
}

runyard::v1::Run FailedGang() {
  runyard::v1::Run run = PyTorchRun(4, 2);
  run.set_status(runyard::v1::FAILED);
  run.set_attempt(1);
  // Listed out of order: shown by node rank.
  auto* node1 = run.add_nodes();
  node1->set_node_rank(1);
  node1->set_agent_id("agent-b2");
  node1->set_agent_name("node1");
  node1->set_hostname("host-b");
  node1->set_status(runyard::v1::FAILED);
  *node1->add_ranks() = Rank(3, 1, true, 3);
  *node1->add_ranks() = Rank(2, 1, false, 0, 15);
  node1->mutable_error()->set_code("UserError");
  node1->mutable_error()->set_message("rank 3 (node 1, host host-b) exited with code 3");
  auto* node0 = run.add_nodes();
  node0->set_node_rank(0);
  node0->set_agent_id("agent-a1");
  node0->set_agent_name("node0");
  node0->set_hostname("host-a");
  node0->set_status(runyard::v1::CANCELED);
  *node0->add_ranks() = Rank(0, 0, true, 0);
  runyard::v1::RankResult never = Rank(1, 0, false, 0);
  never.set_started(false);
  *node0->add_ranks() = never;
  return run;
}

TEST(RunNodesTest, RankOutcomes) {
  EXPECT_EQ(RankOutcome(Rank(0, 0, true, 0)), "exit 0");
  EXPECT_EQ(RankOutcome(Rank(0, 0, true, 3)), "exit 3");
  EXPECT_THAT(RankOutcome(Rank(0, 0, false, 0, 9)), HasSubstr("signal 9 ("));
  runyard::v1::RankResult running = Rank(0, 0, false, 0);
  EXPECT_EQ(RankOutcome(running), "running");
  running.set_started(false);
  EXPECT_EQ(RankOutcome(running), "not started");
}

TEST(RunNodesTest, TableByNodeRankWithEachRanksEndAndTheNodesError) {
  const std::string table = NodesTable(FailedGang(), "  ");
  const std::vector<std::string> lines = absl::StrSplit(table, '\n');
  ASSERT_GE(lines.size(), 4u) << table;
  EXPECT_THAT(lines[0], HasSubstr("NODE  STATUS"));
  EXPECT_THAT(lines[1], HasSubstr("0     Canceled node0 (agent-a1) host-a 0: exit 0, 1: not started"));
  EXPECT_THAT(lines[1], HasSubstr("0: exit 0, 1: not started"));
  EXPECT_THAT(lines[2], HasSubstr("1     Failed   node1 (agent-b2) host-b 2: signal 15 ("));
  EXPECT_THAT(lines[2], HasSubstr("2: signal 15 ("));
  EXPECT_THAT(lines[2], HasSubstr("3: exit 3"));
  EXPECT_THAT(lines[3], HasSubstr("UserError: rank 3 (node 1, host host-b) exited with code 3"));
  EXPECT_EQ(NodesTable(PlainRun(), "  "), "");
}

TEST(RunNodesTest, DistributedText) {
  EXPECT_EQ(DistributedText(PyTorchRun(4, 2).spec()), "pytorch: 4 processes on 2 nodes, gloo");
  runyard::v1::RunSpec spec = PlainRun().spec();
  spec.mutable_distributed_job_config()->mutable_mpi()->set_process_count_per_node(1);
  EXPECT_EQ(DistributedText(spec), "mpi: 1 process per node on 1 node");
  auto* tensorflow = spec.mutable_distributed_job_config()->mutable_tensorflow();
  tensorflow->set_worker_count(2);
  tensorflow->set_parameter_server_count(1);
  tensorflow->set_node_count(2);
  EXPECT_EQ(DistributedText(spec), "tensorflow: 2 workers + 1 parameter server on 2 nodes");
  EXPECT_EQ(DistributedText(PlainRun().spec()), "");
}

TEST(RunNodesTest, StatusShowsTheNodesAndWhatAQueuedRunWaitsFor) {
  EXPECT_THAT(DescribeRun(FailedGang()), HasSubstr("Distributed: pytorch: 4 processes on 2 nodes, gloo\nNodes:\n"));
  runyard::v1::Run queued = PyTorchRun(2, 2);
  queued.set_status(runyard::v1::QUEUED);
  queued.set_status_detail("waiting for nodes: 1 of 2");
  EXPECT_THAT(DescribeRun(queued), HasSubstr("Status:      Queued (waiting for nodes: 1 of 2)\n"));
  EXPECT_THAT(DescribeRun(queued), Not(HasSubstr("Nodes:")));
  EXPECT_THAT(DescribeRun(PlainRun()), Not(HasSubstr("Distributed")));
}

TEST(RunNodesTest, ShowListsTheNodes) {
  RunDetails details;
  details.run = FailedGang();
  const std::string text = RenderDetails(details);
  EXPECT_THAT(text, HasSubstr("Distributed:   pytorch: 4 processes on 2 nodes, gloo\n"));
  EXPECT_THAT(text, HasSubstr("Nodes:\n  NODE"));
  details.run = PyTorchRun(2, 2);
  EXPECT_THAT(RenderDetails(details), HasSubstr("Nodes:         none yet\n"));
}

TEST(RunNodesTest, JsonCarriesNodesRanksAndStatusDetail) {
  runyard::v1::Run run = FailedGang();
  run.set_status_detail("");
  const nlohmann::json json = RunToJson(run);
  ASSERT_EQ(json["nodes"].size(), 2u);
  EXPECT_EQ(json["nodes"][0]["node_rank"], 0);
  EXPECT_EQ(json["nodes"][0]["agent_id"], "agent-a1");
  EXPECT_EQ(json["nodes"][0]["status"], "Canceled");
  EXPECT_EQ(json["nodes"][0]["error"], nullptr);
  EXPECT_EQ(json["nodes"][1]["error"]["code"], "UserError");
  EXPECT_EQ(json["nodes"][1]["ranks"][0]["rank"], 3);
  EXPECT_EQ(json["nodes"][1]["ranks"][0]["exit_code"], 3);
  EXPECT_EQ(json["nodes"][1]["ranks"][0]["outcome"], "exit 3");
  EXPECT_EQ(json["distributed"]["kind"], "pytorch");
  EXPECT_EQ(json["distributed"]["node_count"], 2);
  EXPECT_EQ(json["distributed"]["world_size"], 4);
  EXPECT_EQ(json["status_detail"], "");
  EXPECT_EQ(RunToJson(PlainRun())["distributed"], nullptr);
  EXPECT_TRUE(RunToJson(PlainRun())["nodes"].empty());
}

TEST(RunNodesTest, ListHasANodesColumnOnlyWhenARunIsDistributed) {
  EXPECT_THAT(RunTreeTable({PlainRun()}), Not(HasSubstr("NODES")));
  const std::string table = RunTreeTable({PlainRun(), PyTorchRun(4, 2)});
  EXPECT_THAT(table, HasSubstr("NODES"));
}

}  // namespace
}  // namespace runyard::cli
