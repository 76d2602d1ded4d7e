// Tests for runtime/rank_plan.h: which processes a node of a distributed run starts, and the
// environment of each (PyTorch per process and per node, TensorFlow's TF_CONFIG, MPI), on a
// server placement and on the local target.

#include "runtime/rank_plan.h"

#include <nlohmann/json.hpp>

#include "common/distributed_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace runyard::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Contains;
using ::testing::Key;

runyard::v1::RunSpec PyTorch(int processes, int nodes, bool command = false) {
  runyard::v1::RunSpec spec;
  if (command) {
    spec.add_command("python3");
    spec.add_command("-m");
    spec.add_command("torch.distributed.launch");
  } else {
    spec.set_script("train.py");
  }
  auto* pytorch = spec.mutable_distributed_job_config()->mutable_pytorch();
  pytorch->set_process_count(processes);
  pytorch->set_node_count(nodes);
  EXPECT_TRUE(common::NormalizeDistributedConfig(&spec).ok());
  return spec;
}

runyard::v1::RunSpec Tensorflow(int workers, int parameter_servers, int nodes) {
  runyard::v1::RunSpec spec;
  spec.set_script("train.py");
  auto* tensorflow = spec.mutable_distributed_job_config()->mutable_tensorflow();
  tensorflow->set_worker_count(workers);
  tensorflow->set_parameter_server_count(parameter_servers);
  tensorflow->set_node_count(nodes);
  EXPECT_TRUE(common::NormalizeDistributedConfig(&spec).ok());
  return spec;
}

NodePlacement Node(int node_rank, std::vector<std::string> addresses, int base_port = 29500) {
  NodePlacement placement;
  placement.node_rank = node_rank;
  placement.addresses = std::move(addresses);
  placement.base_port = base_port;
  return placement;
}

NodePlacement Local(int base_port = 40000) {
  NodePlacement placement;
  placement.all_nodes_here = true;
  placement.base_port = base_port;
  return placement;
}

std::vector<int> Ranks(const NodeLaunchPlan& plan) {
  std::vector<int> ranks;
  for (const PlannedProcess& process : plan.processes) ranks.push_back(process.rank);
  return ranks;
}

TEST(RankPlanTest, PyTorchPerProcessNodeGetsItsRanksWithTheirEnvironment) {
  const NodeLaunchPlan plan =
      PlanNodeLaunch(PyTorch(4, 2), Node(1, {"10.0.0.1", "10.0.0.2"}, 29517));
  EXPECT_EQ(plan.mode, NodeLaunchPlan::Mode::kPerProcess);
  EXPECT_THAT(plan.launcher_prefix, IsEmpty());
  ASSERT_THAT(Ranks(plan), ElementsAre(2, 3));
  const PlannedProcess& second = plan.processes[1];
  EXPECT_EQ(second.node_rank, 1);
  EXPECT_EQ(second.local_rank, 1);
  EXPECT_EQ(second.log_path, "user_logs/std_log_process_3.txt");
  EXPECT_EQ(second.environment, (std::map<std::string, std::string>{
                                    {"RANK", "3"},
                                    {"LOCAL_RANK", "1"},
                                    {"WORLD_SIZE", "4"},
                                    {"LOCAL_WORLD_SIZE", "2"},
                                    {"NODE_RANK", "1"},
                                    {"GROUP_RANK", "1"},
                                    {"MASTER_ADDR", "10.0.0.1"},
                                    {"MASTER_PORT", "29517"},
                                }));
  EXPECT_EQ(plan.processes[0].environment.at("RANK"), "2");
  EXPECT_EQ(plan.processes[0].environment.at("LOCAL_RANK"), "0");
}

TEST(RankPlanTest, NodeZeroGetsTheFirstRanks) {
  const NodeLaunchPlan plan = PlanNodeLaunch(PyTorch(6, 3), Node(0, {"a", "b", "c"}));
  ASSERT_THAT(Ranks(plan), ElementsAre(0, 1));
  EXPECT_EQ(plan.processes[1].environment.at("MASTER_ADDR"), "a");
  EXPECT_EQ(plan.processes[1].environment.at("WORLD_SIZE"), "6");
  EXPECT_EQ(plan.processes[1].environment.at("NODE_RANK"), "0");
}

TEST(RankPlanTest, NetworkInterfaceGoesToGlooAndNccl) {
  NodePlacement placement = Node(0, {"10.0.0.1", "10.0.0.2"});
  placement.network_interface = "eth1";
  const NodeLaunchPlan plan = PlanNodeLaunch(PyTorch(2, 2), placement);
  ASSERT_THAT(plan.processes, ::testing::SizeIs(1));
  EXPECT_EQ(plan.processes[0].environment.at("GLOO_SOCKET_IFNAME"), "eth1");
  EXPECT_EQ(plan.processes[0].environment.at("NCCL_SOCKET_IFNAME"), "eth1");
}

TEST(RankPlanTest, NoNetworkInterfaceSetsNoSocketVariable) {
  const NodeLaunchPlan plan = PlanNodeLaunch(PyTorch(2, 2), Node(0, {"x", "y"}));
  EXPECT_THAT(plan.processes[0].environment, Not(Contains(Key("GLOO_SOCKET_IFNAME"))));
  EXPECT_THAT(plan.processes[0].environment, Not(Contains(Key("NCCL_SOCKET_IFNAME"))));
}

TEST(RankPlanTest, LocalTargetStartsEveryRankOfEveryNodeOnLoopback) {
  const NodeLaunchPlan plan = PlanNodeLaunch(PyTorch(4, 2), Local(41000));
  ASSERT_THAT(Ranks(plan), ElementsAre(0, 1, 2, 3));
  for (const PlannedProcess& process : plan.processes) {
    EXPECT_EQ(process.node_rank, process.rank / 2);
    EXPECT_EQ(process.local_rank, process.rank % 2);
    EXPECT_EQ(process.environment.at("MASTER_ADDR"), "127.0.0.1");
    EXPECT_EQ(process.environment.at("MASTER_PORT"), "41000");
    EXPECT_EQ(process.environment.at("NODE_RANK"), std::to_string(process.rank / 2));
    EXPECT_EQ(process.log_path, common::RankLogPath(process.rank));
  }
}

TEST(RankPlanTest, MissingAddressIsLoopback) {
  const NodeLaunchPlan plan = PlanNodeLaunch(PyTorch(2, 2), Node(1, {}));
  EXPECT_EQ(plan.processes[0].environment.at("MASTER_ADDR"), "127.0.0.1");
}

TEST(RankPlanTest, PyTorchCommandIsOneProcessPerNodeToldTheGangsShape) {
  const NodeLaunchPlan plan =
      PlanNodeLaunch(PyTorch(8, 2, /*command=*/true), Node(1, {"10.0.0.1", "10.0.0.2"}, 29600));
  EXPECT_EQ(plan.mode, NodeLaunchPlan::Mode::kPerNode);
  ASSERT_THAT(plan.processes, ::testing::SizeIs(1));
  const PlannedProcess& node = plan.processes[0];
  EXPECT_EQ(node.node_rank, 1);
  EXPECT_EQ(node.log_path, "user_logs/std_log_node_1.txt");
  EXPECT_EQ(node.environment, (std::map<std::string, std::string>{
                                  {"NODE_RANK", "1"},
                                  {"GROUP_RANK", "1"},
                                  {"NNODES", "2"},
                                  {"NPROC_PER_NODE", "4"},
                                  {"WORLD_SIZE", "8"},
                                  {"MASTER_ADDR", "10.0.0.1"},
                                  {"MASTER_PORT", "29600"},
                              }));
}

TEST(RankPlanTest, PyTorchCommandOnTheLocalTargetIsOneProcessPerNodeHere) {
  const NodeLaunchPlan plan = PlanNodeLaunch(PyTorch(4, 2, /*command=*/true), Local());
  ASSERT_THAT(plan.processes, ::testing::SizeIs(2));
  EXPECT_EQ(plan.processes[0].log_path, "user_logs/std_log.txt");
  EXPECT_EQ(plan.processes[1].log_path, "user_logs/std_log_node_1.txt");
  EXPECT_EQ(plan.processes[1].environment.at("NODE_RANK"), "1");
  EXPECT_EQ(plan.processes[1].environment.at("MASTER_ADDR"), "127.0.0.1");
}

TEST(RankPlanTest, MpiOnOneNodeIsMpirunWithItsProcessCount) {
  runyard::v1::RunSpec spec;
  spec.set_script("train.py");
  spec.mutable_distributed_job_config()->mutable_mpi()->set_process_count_per_node(3);
  ASSERT_TRUE(common::NormalizeDistributedConfig(&spec).ok());
  const NodeLaunchPlan plan = PlanNodeLaunch(spec, Local());
  EXPECT_EQ(plan.mode, NodeLaunchPlan::Mode::kMpi);
  EXPECT_THAT(plan.launcher_prefix, ElementsAre("mpirun", "-np", "3"));
  ASSERT_THAT(plan.processes, ::testing::SizeIs(1));
  EXPECT_EQ(plan.processes[0].log_path, "user_logs/std_log.txt");
  EXPECT_EQ(plan.processes[0].environment.at("OMPI_ALLOW_RUN_AS_ROOT"), "1");
  EXPECT_THAT(plan.processes[0].environment, Not(Contains(Key("RANK"))));
}

TEST(RankPlanTest, MpiAcrossNodesNodeZeroReachesTheOthersListeners) {
  runyard::v1::RunSpec spec;
  spec.set_script("train.py");
  spec.mutable_distributed_job_config()->mutable_mpi()->set_process_count_per_node(2);
  spec.mutable_distributed_job_config()->mutable_mpi()->set_node_count(3);
  ASSERT_TRUE(common::NormalizeDistributedConfig(&spec).ok());
  const NodeLaunchPlan first = PlanNodeLaunch(spec, Node(0, {"10.0.0.1", "10.0.0.2", "10.0.0.3"}, 29600));
  EXPECT_THAT(first.launcher_prefix, ElementsAre("mpirun", "-np", "6"));
  ASSERT_THAT(first.mpi_hosts, ::testing::SizeIs(3));
  EXPECT_EQ(first.mpi_hosts[0].name, "localhost");
  EXPECT_EQ(first.mpi_hosts[2].name, "runyard-node-2");
  EXPECT_EQ(first.mpi_hosts[2].address, "10.0.0.3");
  EXPECT_EQ(first.mpi_hosts[2].port, 29602);
  EXPECT_EQ(first.mpi_hosts[1].slots, 2);
  EXPECT_EQ(first.remote_exec_port, 0);
  const auto& env = first.processes[0].environment;
  EXPECT_EQ(env.at("OMPI_MCA_plm_rsh_no_tree_spawn"), "1");
  EXPECT_EQ(env.at("OMPI_MCA_orte_leave_session_attached"), "1");
  EXPECT_THAT(env, Not(Contains(Key("OMPI_MCA_btl_tcp_if_include"))));  // no interface given

  const NodeLaunchPlan second = PlanNodeLaunch(spec, Node(2, {"10.0.0.1", "10.0.0.2", "10.0.0.3"}, 29600));
  EXPECT_TRUE(second.launcher_prefix.empty());  // node k runs no command of its own
  EXPECT_EQ(second.remote_exec_port, 29602);
  EXPECT_EQ(second.processes[0].log_path, "user_logs/std_log_node_2.txt");

  // Every node on 127.0.0.1 (one host): Open MPI's TCP must be allowed on loopback.
  const NodeLaunchPlan here = PlanNodeLaunch(spec, Node(0, {"127.0.0.1", "127.0.0.1", "127.0.0.1"}));
  EXPECT_EQ(here.processes[0].environment.at("OMPI_MCA_btl_tcp_if_include"), "lo");
}

TEST(RankPlanTest, TensorflowTasksSpreadContiguouslyTheLastNodeTheRest) {
  // 3 workers + 2 ps over 2 nodes: 3 tasks per node, the last node 2.
  const runyard::v1::RunSpec spec = Tensorflow(3, 2, 2);
  const NodeLaunchPlan first = PlanNodeLaunch(spec, Node(0, {"h0", "h1"}, 30000));
  const NodeLaunchPlan last = PlanNodeLaunch(spec, Node(1, {"h0", "h1"}, 30000));
  EXPECT_EQ(first.mode, NodeLaunchPlan::Mode::kPerProcess);
  EXPECT_THAT(Ranks(first), ElementsAre(0, 1, 2));
  EXPECT_THAT(Ranks(last), ElementsAre(3, 4));
  EXPECT_EQ(last.processes[0].local_rank, 0);
  EXPECT_EQ(last.processes[1].local_rank, 1);
  EXPECT_EQ(last.processes[1].node_rank, 1);
  EXPECT_EQ(last.processes[1].environment.at("RANK"), "4");
  EXPECT_EQ(last.processes[1].log_path, "user_logs/std_log_process_4.txt");
  EXPECT_EQ(TensorflowTaskNode(spec, 2), 0);
  EXPECT_EQ(TensorflowTaskNode(spec, 3), 1);
}

TEST(RankPlanTest, TfConfigNamesEveryTaskAtItsNodeAndPort) {
  const runyard::v1::RunSpec spec = Tensorflow(3, 2, 2);
  const NodeLaunchPlan last = PlanNodeLaunch(spec, Node(1, {"h0", "h1"}, 30000));
  const nlohmann::json config = nlohmann::json::parse(last.processes[1].environment.at("TF_CONFIG"));
  EXPECT_EQ(config, nlohmann::json::parse(R"({
    "cluster": {"worker": ["h0:30000", "h0:30001", "h0:30002"], "ps": ["h1:30003", "h1:30004"]},
    "task": {"type": "ps", "index": 1}})"));
  const nlohmann::json worker =
      nlohmann::json::parse(PlanNodeLaunch(spec, Node(0, {"h0", "h1"}, 30000))
                                .processes[2]
                                .environment.at("TF_CONFIG"));
  EXPECT_EQ(worker["task"], nlohmann::json::parse(R"({"type": "worker", "index": 2})"));
}

TEST(RankPlanTest, TfConfigIsCompactJsonWithoutPsWhenThereIsNone) {
  const runyard::v1::RunSpec spec = Tensorflow(2, 0, 1);
  const std::string text = TensorflowConfigJson(spec, Local(5000), 1);
  EXPECT_EQ(text.find(' '), std::string::npos) << text;
  EXPECT_EQ(nlohmann::json::parse(text), nlohmann::json::parse(R"({
    "cluster": {"worker": ["127.0.0.1:5000", "127.0.0.1:5001"]},
    "task": {"type": "worker", "index": 1}})"));
}

TEST(RankPlanTest, TensorflowOnTheLocalTargetStartsEveryTaskWithItsOwnPort) {
  const runyard::v1::RunSpec spec = Tensorflow(2, 1, 2);  // 2 tasks on node 0, 1 on node 1
  const NodeLaunchPlan plan = PlanNodeLaunch(spec, Local(6000));
  ASSERT_THAT(Ranks(plan), ElementsAre(0, 1, 2));
  EXPECT_EQ(plan.processes[2].node_rank, 1);
  EXPECT_EQ(plan.processes[2].local_rank, 0);
  const nlohmann::json config = nlohmann::json::parse(plan.processes[2].environment.at("TF_CONFIG"));
  EXPECT_EQ(config["cluster"]["ps"], nlohmann::json::parse(R"(["127.0.0.1:6002"])"));
  EXPECT_EQ(config["task"], nlohmann::json::parse(R"({"type": "ps", "index": 0})"));
}

}  // namespace
}  // namespace runyard::runtime
