#include "common/distributed_config.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace runyard::common {
namespace {

using runyard::v1::DistributedJobConfig;
using runyard::v1::MpiConfig;
using runyard::v1::PyTorchConfig;
using runyard::v1::RunSpec;
using runyard::v1::TensorflowConfig;

constexpr const char* kBackends[] = {"nccl", "gloo", "mpi"};
// The run's folders whose node k > 0 files go to <folder>/node_<k>/.
constexpr const char* kRunFolders[] = {"outputs", "logs", "system_logs", "user_logs"};

absl::Status Invalid(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("distributed_job_config.", field, " ", what));
}

// Azure ML's defaults, for a count that proto3 shows as 0 when the user left it out.
int OrDefault(int value, int fallback) { return value == 0 ? fallback : value; }

int CeilDiv(int a, int b) { return (a + b - 1) / b; }

// The defaults alone, so that the helpers below give the same numbers on a spec that was
// never normalized (a spec read back from an older store, a test's hand-made one).
void FillDefaults(PyTorchConfig* pytorch) {
  pytorch->set_node_count(OrDefault(pytorch->node_count(), 1));
  pytorch->set_process_count(OrDefault(pytorch->process_count(), pytorch->node_count()));
  std::string backend = absl::AsciiStrToLower(pytorch->communication_backend());
  pytorch->set_communication_backend(backend.empty() ? "nccl" : backend);
}

void FillDefaults(MpiConfig* mpi) {
  mpi->set_process_count_per_node(OrDefault(mpi->process_count_per_node(), 1));
  mpi->set_node_count(OrDefault(mpi->node_count(), 1));
}

// Proto3 cannot tell an absent parameter_server_count from 0, so: when worker_count is
// given too, 0 parameter servers means none; when neither is, Azure's 1 and 1.
void FillDefaults(TensorflowConfig* tensorflow) {
  if (tensorflow->worker_count() == 0 && tensorflow->parameter_server_count() == 0) {
    tensorflow->set_parameter_server_count(1);
  }
  tensorflow->set_worker_count(OrDefault(tensorflow->worker_count(), 1));
  tensorflow->set_node_count(OrDefault(tensorflow->node_count(), 1));
}

void FillDefaults(DistributedJobConfig* config) {
  switch (config->kind_case()) {
    case DistributedJobConfig::kPytorch: FillDefaults(config->mutable_pytorch()); break;
    case DistributedJobConfig::kMpi: FillDefaults(config->mutable_mpi()); break;
    case DistributedJobConfig::kTensorflow: FillDefaults(config->mutable_tensorflow()); break;
    case DistributedJobConfig::KIND_NOT_SET: break;
  }
}

DistributedJobConfig Filled(const RunSpec& spec) {
  DistributedJobConfig config = spec.distributed_job_config();
  FillDefaults(&config);
  return config;
}

absl::Status CheckCount(const std::string& field, int value, int minimum, int maximum) {
  if (value < minimum) return Invalid(field, absl::StrCat("(", value, ") must be at least ", minimum));
  if (value > maximum) return Invalid(field, absl::StrCat("(", value, ") must be at most ", maximum));
  return absl::OkStatus();
}

absl::Status CheckPyTorch(const PyTorchConfig& pytorch) {
  if (absl::Status s = CheckCount("pytorch.node_count", pytorch.node_count(), 1, kMaxDistributedNodes);
      !s.ok()) {
    return s;
  }
  if (pytorch.process_count() < 1) {
    return Invalid("pytorch.process_count", absl::StrCat("(", pytorch.process_count(), ") must be at least 1"));
  }
  if (pytorch.process_count() % pytorch.node_count() != 0) {
    return Invalid("pytorch.process_count",
                   absl::StrCat("(", pytorch.process_count(), ") must be divisible by node_count (",
                                pytorch.node_count(), ")"));
  }
  const int per_node = pytorch.process_count() / pytorch.node_count();
  if (per_node > kMaxProcessesPerNode) {
    return Invalid("pytorch.process_count",
                   absl::StrCat("(", pytorch.process_count(), ") over ", pytorch.node_count(),
                                " node(s) is ", per_node, " processes per node, more than ",
                                kMaxProcessesPerNode));
  }
  const std::string& backend = pytorch.communication_backend();
  if (std::find(std::begin(kBackends), std::end(kBackends), backend) == std::end(kBackends)) {
    return Invalid("pytorch.communication_backend",
                   absl::StrCat("('", backend, "') must be one of ", absl::StrJoin(kBackends, ", ")));
  }
  return absl::OkStatus();
}

absl::Status CheckMpi(const MpiConfig& mpi) {
  if (absl::Status s = CheckCount("mpi.process_count_per_node", mpi.process_count_per_node(), 1,
                                  kMaxProcessesPerNode);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckCount("mpi.node_count", mpi.node_count(), 1, kMaxDistributedNodes); !s.ok()) {
    return s;
  }
  return absl::OkStatus();
}

absl::Status CheckTensorflow(const TensorflowConfig& tensorflow) {
  if (absl::Status s = CheckCount("tensorflow.worker_count", tensorflow.worker_count(), 1,
                                  kMaxDistributedNodes * kMaxProcessesPerNode);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckCount("tensorflow.parameter_server_count",
                                  tensorflow.parameter_server_count(), 0,
                                  kMaxDistributedNodes * kMaxProcessesPerNode);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckCount("tensorflow.node_count", tensorflow.node_count(), 1, kMaxDistributedNodes);
      !s.ok()) {
    return s;
  }
  const int tasks = tensorflow.worker_count() + tensorflow.parameter_server_count();
  const int nodes = tensorflow.node_count();
  if (tasks < nodes) {
    return Invalid("tensorflow.node_count",
                   absl::StrCat("(", nodes, ") must not exceed the tasks (", tasks,
                                " = worker_count + parameter_server_count)"));
  }
  const int per_node = CeilDiv(tasks, nodes);
  if (per_node > kMaxProcessesPerNode) {
    return Invalid("tensorflow.node_count",
                   absl::StrCat("(", nodes, ") leaves ", per_node, " of the ", tasks,
                                " tasks (worker_count + parameter_server_count) per node, more than ",
                                kMaxProcessesPerNode));
  }
  // Tasks fill the nodes in order, per_node each: the last node must still get one.
  if ((nodes - 1) * per_node >= tasks) {
    return Invalid("tensorflow.node_count",
                   absl::StrCat("(", nodes, "): ", tasks, " tasks at ", per_node,
                                " per node leave the last node without a task; use ",
                                CeilDiv(tasks, per_node), " node(s) or a task count that fills them"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status NormalizeDistributedConfig(RunSpec* spec) {
  if (!spec->has_distributed_job_config()) return absl::OkStatus();
  DistributedJobConfig* config = spec->mutable_distributed_job_config();
  FillDefaults(config);
  switch (config->kind_case()) {
    case DistributedJobConfig::kPytorch: return CheckPyTorch(config->pytorch());
    case DistributedJobConfig::kMpi: return CheckMpi(config->mpi());
    case DistributedJobConfig::kTensorflow: return CheckTensorflow(config->tensorflow());
    case DistributedJobConfig::KIND_NOT_SET: break;
  }
  return absl::InvalidArgumentError(
      "distributed_job_config: give exactly one of pytorch, mpi or tensorflow");
}

bool IsDistributed(const RunSpec& spec) {
  return spec.distributed_job_config().kind_case() != DistributedJobConfig::KIND_NOT_SET;
}

int NodeCount(const RunSpec& spec) {
  const DistributedJobConfig config = Filled(spec);
  switch (config.kind_case()) {
    case DistributedJobConfig::kPytorch: return config.pytorch().node_count();
    case DistributedJobConfig::kMpi: return config.mpi().node_count();
    case DistributedJobConfig::kTensorflow: return config.tensorflow().node_count();
    case DistributedJobConfig::KIND_NOT_SET: break;
  }
  return 1;
}

int WorldSize(const RunSpec& spec) {
  const DistributedJobConfig config = Filled(spec);
  switch (config.kind_case()) {
    case DistributedJobConfig::kPytorch: return config.pytorch().process_count();
    case DistributedJobConfig::kMpi:
      return config.mpi().node_count() * config.mpi().process_count_per_node();
    case DistributedJobConfig::kTensorflow:
      return config.tensorflow().worker_count() + config.tensorflow().parameter_server_count();
    case DistributedJobConfig::KIND_NOT_SET: break;
  }
  return 1;
}

int ProcessesPerNode(const RunSpec& spec) {
  const DistributedJobConfig config = Filled(spec);
  if (config.kind_case() == DistributedJobConfig::kMpi) return config.mpi().process_count_per_node();
  return CeilDiv(WorldSize(spec), NodeCount(spec));
}

int PortCount(const RunSpec& spec) {
  if (!IsDistributed(spec)) return 0;
  if (spec.distributed_job_config().has_tensorflow()) return WorldSize(spec);
  // MPI: node k > 0 listens on base_port + k for node 0's daemon command (remote_exec.h).
  if (spec.distributed_job_config().has_mpi()) return NodeCount(spec);
  return 1;
}

std::string DistributedKind(const RunSpec& spec) {
  switch (spec.distributed_job_config().kind_case()) {
    case DistributedJobConfig::kPytorch: return "pytorch";
    case DistributedJobConfig::kMpi: return "mpi";
    case DistributedJobConfig::kTensorflow: return "tensorflow";
    case DistributedJobConfig::KIND_NOT_SET: break;
  }
  return "";
}

bool LaunchesPerProcess(const RunSpec& spec) {
  const DistributedJobConfig& config = spec.distributed_job_config();
  if (config.has_tensorflow()) return true;
  return config.has_pytorch() && spec.command().empty();
}

std::string RankLogPath(int rank) {
  return absl::StrCat("user_logs/std_log_process_", rank, ".txt");
}

std::string NodeLogPath(int node_rank) {
  if (node_rank == 0) return "user_logs/std_log.txt";
  return absl::StrCat("user_logs/std_log_node_", node_rank, ".txt");
}

std::string NodeFilePath(int node_rank, const std::string& path) {
  if (node_rank == 0) return path;
  if (path == NodeLogPath(0)) return NodeLogPath(node_rank);
  constexpr std::string_view kRankLogPrefix = "user_logs/std_log_process_";
  if (path.starts_with(kRankLogPrefix)) return path;
  const std::string node_folder = absl::StrCat("node_", node_rank);
  const size_t slash = path.find('/');
  // outputs/a/b → outputs/node_k/a/b; the folder itself → outputs/node_k; a file at the top
  // (no folder of its own) → node_k/file.
  if (slash == std::string::npos) {
    for (const char* folder : kRunFolders) {
      if (path == folder) return absl::StrCat(path, "/", node_folder);
    }
    return absl::StrCat(node_folder, "/", path);
  }
  return absl::StrCat(path.substr(0, slash), "/", node_folder, path.substr(slash));
}

}  // namespace runyard::common
