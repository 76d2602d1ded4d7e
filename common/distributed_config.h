#pragma once

// A run's distributed_job_config (spec.proto) in numbers: Azure ML's defaults filled in,
// its checks applied, and what the scheduler and the runtime need of it. One place, used
// by the CLI (a spec's early error), the server (Submit) and the runtime (the ranks).

#include <string>

#include "absl/status/status.h"
#include "runyard/v1/spec.pb.h"

namespace runyard::common {

// Upper bounds, so that a typo cannot ask for a million processes.
inline constexpr int kMaxDistributedNodes = 512;
inline constexpr int kMaxProcessesPerNode = 256;

// Fills in the defaults of spec->distributed_job_config (nothing when it is unset) and
// checks it: counts at least 1 (parameter servers at least 0), within the bounds,
// process_count divisible by node_count, a known communication_backend, TensorFlow's
// tasks at least its node_count. InvalidArgument naming the field and the numbers
// ("distributed_job_config.pytorch.process_count (5) must be divisible by node_count (2)").
// Idempotent (the CLI and the server's Submit both call it).
// Defaults (Azure ML's, where 0 stands for "not given", proto3 having no presence here):
//   pytorch: node_count 1, process_count = node_count, communication_backend "nccl"
//     (nccl, gloo and mpi are accepted in any case and stored in lower case);
//   mpi: process_count_per_node 1, node_count 1;
//   tensorflow: worker_count 1, node_count 1, parameter_server_count 1 only when
//     worker_count was not given either (worker_count given and parameter_server_count
//     0 means no parameter server). Tasks (workers, then parameter servers) fill the
//     nodes in order, ProcessesPerNode each, so every node must get at least one.
// An empty distributed_job_config (no kind) is refused.
absl::Status NormalizeDistributedConfig(runyard::v1::RunSpec* spec);

// Whether the spec asks for a distributed run (distributed_job_config is set).
bool IsDistributed(const runyard::v1::RunSpec& spec);

// Agents (nodes) the run needs at once: 1 when it is not distributed.
int NodeCount(const runyard::v1::RunSpec& spec);

// Processes started on each node (all of them for a per-node launch, see below).
int ProcessesPerNode(const runyard::v1::RunSpec& spec);

// Ports the run needs on every node, from its base port: 1 for PyTorch (MASTER_PORT), one
// per node for MPI (node k's listener for node 0, remote_exec.h), one per task for
// TensorFlow; 0 when it is not distributed.
int PortCount(const runyard::v1::RunSpec& spec);

// "pytorch", "mpi", "tensorflow", or "" when not distributed.
std::string DistributedKind(const runyard::v1::RunSpec& spec);

// Whether the agents start every process (rank) themselves: PyTorch with a `script` and
// TensorFlow. False for a per-node launch (PyTorch with a `command`, such as
// `python -m torch.distributed.launch ...`: one process per node, which starts its own
// ranks) and for MPI (node 0 runs mpirun).
bool LaunchesPerProcess(const runyard::v1::RunSpec& spec);

// Total processes (ranks) of the run: process_count, node_count x process_count_per_node,
// or worker_count + parameter_server_count; 1 when not distributed.
int WorldSize(const runyard::v1::RunSpec& spec);

// Where a rank's stdout and stderr go among the run's files (Azure ML's names):
// "user_logs/std_log_process_<rank>.txt".
std::string RankLogPath(int rank);

// Where the main output of node `node_rank` goes: "user_logs/std_log.txt" for node 0 (the
// run's own log), "user_logs/std_log_node_<k>.txt" for the others.
std::string NodeLogPath(int node_rank);

// Where a file that node `node_rank` writes at `path` (outputs/..., logs/...,
// system_logs/..., user_logs/std_log.txt) lands among the run's files: unchanged on node
// 0; for the others outputs/node_<k>/..., logs/node_<k>/..., system_logs/node_<k>/...,
// NodeLogPath(k). Rank logs (std_log_process_<r>.txt) are unchanged: ranks are unique.
std::string NodeFilePath(int node_rank, const std::string& path);

}  // namespace runyard::common
