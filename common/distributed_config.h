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
absl::Status NormalizeDistributedConfig(runyard::v1::RunSpec* spec);

// Whether the spec asks for a distributed run (distributed_job_config is set).
bool IsDistributed(const runyard::v1::RunSpec& spec);

// Agents (nodes) the run needs at once: 1 when it is not distributed.
int NodeCount(const runyard::v1::RunSpec& spec);

// Processes started on each node (all of them for a per-node launch, see below).
int ProcessesPerNode(const runyard::v1::RunSpec& spec);

// Ports the run needs on every node, from its base port: 1 for PyTorch (MASTER_PORT) and
// MPI, one per task for TensorFlow; 0 when it is not distributed.
int PortCount(const runyard::v1::RunSpec& spec);

// "pytorch", "mpi", "tensorflow", or "" when not distributed.
std::string DistributedKind(const runyard::v1::RunSpec& spec);

}  // namespace runyard::common
