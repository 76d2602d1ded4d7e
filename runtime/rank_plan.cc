#include "runtime/rank_plan.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/distributed_config.h"

namespace runyard::runtime {
namespace {

std::string AddressOf(const NodePlacement& placement, int node_rank) {
  if (node_rank >= 0 && node_rank < static_cast<int>(placement.addresses.size()) &&
      !placement.addresses[node_rank].empty()) {
    return placement.addresses[node_rank];
  }
  return "127.0.0.1";
}

// The nodes whose processes this machine starts.
std::vector<int> NodesHere(const runyard::v1::RunSpec& spec, const NodePlacement& placement) {
  if (!placement.all_nodes_here) return {placement.node_rank};
  std::vector<int> nodes(common::NodeCount(spec));
  for (int k = 0; k < static_cast<int>(nodes.size()); ++k) nodes[k] = k;
  return nodes;
}

// What every process of the run gets, whatever the mode.
std::map<std::string, std::string> CommonEnvironment(const NodePlacement& placement) {
  std::map<std::string, std::string> environment;
  if (!placement.network_interface.empty()) {
    environment["GLOO_SOCKET_IFNAME"] = placement.network_interface;
    environment["NCCL_SOCKET_IFNAME"] = placement.network_interface;
  }
  return environment;
}

// Tasks [first, end) of node `node_rank`: ProcessesPerNode each, the last node the rest.
std::pair<int, int> TensorflowTasksOf(const runyard::v1::RunSpec& spec, int node_rank) {
  const int tasks = common::WorldSize(spec);
  const int per_node = common::ProcessesPerNode(spec);
  const int last_node = common::NodeCount(spec) - 1;
  const int first = std::min(node_rank * per_node, tasks);
  const int end = node_rank == last_node ? tasks : std::min(first + per_node, tasks);
  return {first, end};
}

void PlanPyTorchPerProcess(const runyard::v1::RunSpec& spec, const NodePlacement& placement,
                           int node_rank, NodeLaunchPlan& plan) {
  const int per_node = common::ProcessesPerNode(spec);
  for (int local_rank = 0; local_rank < per_node; ++local_rank) {
    PlannedProcess process;
    process.rank = node_rank * per_node + local_rank;
    process.node_rank = node_rank;
    process.local_rank = local_rank;
    process.log_path = common::RankLogPath(process.rank);
    process.environment = CommonEnvironment(placement);
    auto& env = process.environment;
    env["RANK"] = std::to_string(process.rank);
    env["LOCAL_RANK"] = std::to_string(local_rank);
    env["WORLD_SIZE"] = std::to_string(common::WorldSize(spec));
    env["LOCAL_WORLD_SIZE"] = std::to_string(per_node);
    env["NODE_RANK"] = env["GROUP_RANK"] = std::to_string(node_rank);
    env["MASTER_ADDR"] = AddressOf(placement, 0);
    env["MASTER_PORT"] = std::to_string(placement.base_port);
    plan.processes.push_back(std::move(process));
  }
}

// One process per node, which starts the node's ranks itself (torch.distributed.launch,
// torchrun): it is told the gang's shape, not a rank.
void PlanPyTorchPerNode(const runyard::v1::RunSpec& spec, const NodePlacement& placement,
                        int node_rank, NodeLaunchPlan& plan) {
  PlannedProcess process;
  process.rank = node_rank;
  process.node_rank = node_rank;
  process.log_path = common::NodeLogPath(node_rank);
  process.environment = CommonEnvironment(placement);
  auto& env = process.environment;
  env["NODE_RANK"] = env["GROUP_RANK"] = std::to_string(node_rank);
  env["NNODES"] = std::to_string(common::NodeCount(spec));
  env["NPROC_PER_NODE"] = std::to_string(common::ProcessesPerNode(spec));
  env["WORLD_SIZE"] = std::to_string(common::WorldSize(spec));
  env["MASTER_ADDR"] = AddressOf(placement, 0);
  env["MASTER_PORT"] = std::to_string(placement.base_port);
  plan.processes.push_back(std::move(process));
}

void PlanTensorflow(const runyard::v1::RunSpec& spec, const NodePlacement& placement,
                    int node_rank, NodeLaunchPlan& plan) {
  const auto [first, end] = TensorflowTasksOf(spec, node_rank);
  for (int task = first; task < end; ++task) {
    PlannedProcess process;
    process.rank = task;
    process.node_rank = node_rank;
    process.local_rank = task - first;
    process.log_path = common::RankLogPath(task);
    process.environment = CommonEnvironment(placement);
    process.environment["RANK"] = std::to_string(task);
    process.environment["TF_CONFIG"] = TensorflowConfigJson(spec, placement, task);
    plan.processes.push_back(std::move(process));
  }
}

bool IsLoopback(const std::string& address) { return address.rfind("127.", 0) == 0; }

// MPI: node 0 runs mpirun, which starts the ranks of every node (through the other nodes'
// listeners when there are several); the ranks learn theirs from it (OMPI_COMM_WORLD_*).
void PlanMpi(const runyard::v1::RunSpec& spec, const NodePlacement& placement,
             NodeLaunchPlan& plan) {
  const int nodes = common::NodeCount(spec);
  const bool across_nodes = nodes > 1 && !placement.all_nodes_here;
  const int node_rank = placement.all_nodes_here ? 0 : placement.node_rank;
  PlannedProcess process;
  process.rank = process.node_rank = node_rank;
  process.log_path = common::NodeLogPath(node_rank);
  process.environment = CommonEnvironment(placement);
  plan.processes.push_back(process);
  if (node_rank > 0) {
    plan.remote_exec_port = placement.base_port + node_rank;
    return;
  }
  auto& env = plan.processes[0].environment;
  // Open MPI refuses root without these, and more ranks than cores without the last; both
  // are a node's business here, not the script's.
  env["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
  env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
  env["OMPI_MCA_rmaps_base_oversubscribe"] = "1";
  plan.launcher_prefix = {"mpirun", "-np", std::to_string(common::WorldSize(spec))};
  if (!across_nodes) return;
  // One daemon per node, each started by node 0 (no tree: the others have no way to
  // reach each other's listeners) and kept attached (not daemonized: it must stay inside
  // its node's listener, containment and sandbox).
  env["OMPI_MCA_plm_rsh_no_tree_spawn"] = "1";
  env["OMPI_MCA_orte_leave_session_attached"] = "1";
  // The daemons' and the ranks' TCP on the agents' interface; loopback when every node is
  // on 127.0.0.1 (one host), which Open MPI leaves out by default.
  bool all_loopback = true;
  for (int k = 0; k < nodes; ++k) all_loopback = all_loopback && IsLoopback(AddressOf(placement, k));
  const std::string interface = !placement.network_interface.empty() ? placement.network_interface
                                : all_loopback                       ? "lo"
                                                                     : "";
  if (!interface.empty()) {
    env["OMPI_MCA_btl_tcp_if_include"] = interface;
    env["OMPI_MCA_oob_tcp_if_include"] = interface;
  }
  const int slots = common::ProcessesPerNode(spec);
  plan.mpi_hosts.push_back({"localhost", slots, "", 0});
  for (int k = 1; k < nodes; ++k) {
    plan.mpi_hosts.push_back({"runyard-node-" + std::to_string(k), slots, AddressOf(placement, k),
                              placement.base_port + k});
  }
}

}  // namespace

int TensorflowTaskNode(const runyard::v1::RunSpec& spec, int task) {
  const int per_node = std::max(1, common::ProcessesPerNode(spec));
  return std::min(task / per_node, common::NodeCount(spec) - 1);
}

std::string TensorflowConfigJson(const runyard::v1::RunSpec& spec, const NodePlacement& placement,
                                 int task) {
  const auto& tensorflow = spec.distributed_job_config().tensorflow();
  const int workers = tensorflow.worker_count();
  const int tasks = common::WorldSize(spec);
  nlohmann::json worker = nlohmann::json::array();
  nlohmann::json ps = nlohmann::json::array();
  for (int i = 0; i < tasks; ++i) {
    const std::string endpoint = AddressOf(placement, TensorflowTaskNode(spec, i)) + ":" +
                                 std::to_string(placement.base_port + i);
    (i < workers ? worker : ps).push_back(endpoint);
  }
  nlohmann::json cluster = {{"worker", worker}};
  if (!ps.empty()) cluster["ps"] = ps;
  const bool is_worker = task < workers;
  nlohmann::json config = {
      {"cluster", cluster},
      {"task", {{"type", is_worker ? "worker" : "ps"}, {"index", is_worker ? task : task - workers}}}};
  return config.dump();
}

NodeLaunchPlan PlanNodeLaunch(const runyard::v1::RunSpec& spec, const NodePlacement& placement) {
  NodeLaunchPlan plan;
  const std::string kind = common::DistributedKind(spec);
  if (kind == "mpi") {
    plan.mode = NodeLaunchPlan::Mode::kMpi;
    PlanMpi(spec, placement, plan);
    return plan;
  }
  const bool per_process = common::LaunchesPerProcess(spec);
  plan.mode = per_process ? NodeLaunchPlan::Mode::kPerProcess : NodeLaunchPlan::Mode::kPerNode;
  for (const int node_rank : NodesHere(spec, placement)) {
    if (kind == "tensorflow") {
      PlanTensorflow(spec, placement, node_rank, plan);
    } else if (per_process) {
      PlanPyTorchPerProcess(spec, placement, node_rank, plan);
    } else {
      PlanPyTorchPerNode(spec, placement, node_rank, plan);
    }
  }
  return plan;
}

}  // namespace runyard::runtime
