#pragma once

// Which processes one node of a distributed run starts, and the environment each sees
// (the contract of issue 16, "Rank environment"): a pure function of the spec and of where
// the node stands in its gang, so every mode can be checked without starting anything.

#include <map>
#include <string>
#include <vector>

#include "runyard/v1/spec.pb.h"

namespace runyard::runtime {

// Where this node stands among the nodes of its run.
struct NodePlacement {
  int node_rank = 0;
  // Every node's address, by node rank: addresses[0] is MASTER_ADDR. Fewer than the run's
  // nodes: the missing ones are "127.0.0.1".
  std::vector<std::string> addresses;
  int base_port = 0;  // the run's ports are base_port .. base_port + PortCount - 1
  // GLOO_SOCKET_IFNAME and NCCL_SOCKET_IFNAME of every process; empty: not set.
  std::string network_interface;
  // The local target: this machine starts the processes of every node (node_rank unused).
  bool all_nodes_here = false;
};

// One process this node starts.
struct PlannedProcess {
  // Per-process launch: the process's global rank (TensorFlow: its task's index among the
  // workers then the parameter servers). Per-node launch and MPI: the node rank.
  int rank = 0;
  int node_rank = 0;
  int local_rank = 0;
  // Added to the run's own environment.
  std::map<std::string, std::string> environment;
  // The run file its stdout and stderr go to: user_logs/std_log_process_<rank>.txt for a
  // rank, the node's main log (common::NodeLogPath) for a per-node process.
  std::string log_path;
};

struct NodeLaunchPlan {
  enum class Mode {
    kPerProcess,  // PyTorch with a script, TensorFlow: every rank started by runyard
    kPerNode,     // PyTorch with a command: one process per node, which starts its ranks
    kMpi,         // node 0 runs mpirun around the command
  };
  Mode mode = Mode::kPerProcess;
  // By rank (per process) or node rank (per node).
  std::vector<PlannedProcess> processes;
  // MPI: put in front of the command ({"mpirun", "-np", "<n>"}) on node 0; empty
  // otherwise.
  std::vector<std::string> launcher_prefix;

  // MPI across nodes (remote_exec.h). Node 0: mpirun's hosts, itself first as
  // "localhost", each with ProcessesPerNode slots; the others as "runyard-node-<k>" at
  // their address, port base_port + k. Node k > 0: runs no command but listens on
  // remote_exec_port for the daemon command node 0's mpirun sends.
  struct MpiHost {
    std::string name;
    int slots = 0;
    std::string address;  // empty for node 0
    int port = 0;
  };
  std::vector<MpiHost> mpi_hosts;
  int remote_exec_port = 0;  // > 0 on node k > 0 of an MPI run only
};

// The processes this node (or, for the local target, this machine) starts for a
// distributed `spec` (its distributed_job_config normalized), with their environment.
NodeLaunchPlan PlanNodeLaunch(const runyard::v1::RunSpec& spec, const NodePlacement& placement);

// TF_CONFIG of TensorFlow task `task` (its index among the workers then the parameter
// servers): compact JSON {"cluster": {"worker": [...], "ps": [...]}, "task": {...}}, each
// task at its node's address and port base_port + task; "ps" left out when there is none.
std::string TensorflowConfigJson(const runyard::v1::RunSpec& spec, const NodePlacement& placement,
                                 int task);

// The node a TensorFlow task runs on: tasks spread contiguously over the nodes,
// ProcessesPerNode(spec) each, the last node the rest.
int TensorflowTaskNode(const runyard::v1::RunSpec& spec, int task);

}  // namespace runyard::runtime
