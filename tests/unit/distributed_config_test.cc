// Tests for common/distributed_config.h: Azure's defaults, every check's message, and the
// numbers and paths the scheduler and the runtime take from a distributed spec.

#include "common/distributed_config.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace runyard::common {
namespace {

using runyard::v1::RunSpec;
using ::testing::HasSubstr;

RunSpec PyTorch(int process_count, int node_count, const std::string& backend = "") {
  RunSpec spec;
  spec.set_script("train.py");
  auto* pytorch = spec.mutable_distributed_job_config()->mutable_pytorch();
  pytorch->set_process_count(process_count);
  pytorch->set_node_count(node_count);
  pytorch->set_communication_backend(backend);
  return spec;
}

RunSpec Mpi(int per_node, int node_count) {
  RunSpec spec;
  spec.set_script("train.py");
  auto* mpi = spec.mutable_distributed_job_config()->mutable_mpi();
  mpi->set_process_count_per_node(per_node);
  mpi->set_node_count(node_count);
  return spec;
}

RunSpec Tensorflow(int workers, int parameter_servers, int node_count) {
  RunSpec spec;
  spec.set_script("train.py");
  auto* tensorflow = spec.mutable_distributed_job_config()->mutable_tensorflow();
  tensorflow->set_worker_count(workers);
  tensorflow->set_parameter_server_count(parameter_servers);
  tensorflow->set_node_count(node_count);
  return spec;
}

// The error NormalizeDistributedConfig gives `spec` (InvalidArgument expected).
std::string ErrorOf(RunSpec spec) {
  absl::Status status = NormalizeDistributedConfig(&spec);
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  return std::string(status.message());
}

TEST(NormalizeDistributedConfigTest, ASpecThatIsNotDistributedIsLeftAlone) {
  RunSpec spec;
  spec.set_script("train.py");
  ASSERT_TRUE(NormalizeDistributedConfig(&spec).ok());
  EXPECT_FALSE(spec.has_distributed_job_config());
  EXPECT_FALSE(IsDistributed(spec));
}

TEST(NormalizeDistributedConfigTest, AnEmptyConfigWithNoKindIsRefused) {
  RunSpec spec;
  spec.mutable_distributed_job_config();
  EXPECT_EQ(ErrorOf(spec), "distributed_job_config: give exactly one of pytorch, mpi or tensorflow");
}

TEST(NormalizeDistributedConfigTest, PyTorchDefaultsAreAzures) {
  RunSpec spec = PyTorch(0, 0);
  ASSERT_TRUE(NormalizeDistributedConfig(&spec).ok());
  const auto& pytorch = spec.distributed_job_config().pytorch();
  EXPECT_EQ(pytorch.node_count(), 1);
  EXPECT_EQ(pytorch.process_count(), 1);
  EXPECT_EQ(pytorch.communication_backend(), "nccl");

  spec = PyTorch(0, 3);  // process_count defaults to one per node
  ASSERT_TRUE(NormalizeDistributedConfig(&spec).ok());
  EXPECT_EQ(spec.distributed_job_config().pytorch().process_count(), 3);
}

TEST(NormalizeDistributedConfigTest, BackendIsAcceptedInAnyCaseAndStoredInLowerCase) {
  for (const char* backend : {"GLOO", "Nccl", "mpi"}) {
    RunSpec spec = PyTorch(2, 1, backend);
    ASSERT_TRUE(NormalizeDistributedConfig(&spec).ok()) << backend;
    std::string lower = backend;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_EQ(spec.distributed_job_config().pytorch().communication_backend(), lower);
  }
  EXPECT_EQ(ErrorOf(PyTorch(2, 1, "ucc")),
            "distributed_job_config.pytorch.communication_backend ('ucc') must be one of nccl, gloo, mpi");
}

TEST(NormalizeDistributedConfigTest, PyTorchChecksNameTheFieldAndTheNumbers) {
  EXPECT_EQ(ErrorOf(PyTorch(5, 2)),
            "distributed_job_config.pytorch.process_count (5) must be divisible by node_count (2)");
  EXPECT_EQ(ErrorOf(PyTorch(-1, 1)), "distributed_job_config.pytorch.process_count (-1) must be at least 1");
  EXPECT_EQ(ErrorOf(PyTorch(2, -2)), "distributed_job_config.pytorch.node_count (-2) must be at least 1");
  EXPECT_EQ(ErrorOf(PyTorch(kMaxDistributedNodes + 1, kMaxDistributedNodes + 1)),
            "distributed_job_config.pytorch.node_count (513) must be at most 512");
  EXPECT_EQ(ErrorOf(PyTorch(2 * (kMaxProcessesPerNode + 1), 2)),
            "distributed_job_config.pytorch.process_count (514) over 2 node(s) is 257 processes per node, "
            "more than 256");
}

TEST(NormalizeDistributedConfigTest, MpiDefaultsAndChecks) {
  RunSpec spec = Mpi(0, 0);
  ASSERT_TRUE(NormalizeDistributedConfig(&spec).ok());
  EXPECT_EQ(spec.distributed_job_config().mpi().process_count_per_node(), 1);
  EXPECT_EQ(spec.distributed_job_config().mpi().node_count(), 1);
  RunSpec across = Mpi(2, 2);  // MPI across nodes: node 0's mpirun reaches the others
  EXPECT_TRUE(NormalizeDistributedConfig(&across).ok());
  EXPECT_EQ(PortCount(across), 2);  // node k listens on base_port + k
  EXPECT_EQ(ErrorOf(Mpi(-3, 1)), "distributed_job_config.mpi.process_count_per_node (-3) must be at least 1");
  EXPECT_EQ(ErrorOf(Mpi(kMaxProcessesPerNode + 1, 1)),
            "distributed_job_config.mpi.process_count_per_node (257) must be at most 256");
  EXPECT_EQ(ErrorOf(Mpi(1, -1)), "distributed_job_config.mpi.node_count (-1) must be at least 1");
}

TEST(NormalizeDistributedConfigTest, TensorflowDefaultsOneParameterServerOnlyWhenNothingWasGiven) {
  RunSpec spec = Tensorflow(0, 0, 0);  // tensorflow: {}: Azure's 1 worker and 1 parameter server
  ASSERT_TRUE(NormalizeDistributedConfig(&spec).ok());
  EXPECT_EQ(spec.distributed_job_config().tensorflow().worker_count(), 1);
  EXPECT_EQ(spec.distributed_job_config().tensorflow().parameter_server_count(), 1);
  EXPECT_EQ(spec.distributed_job_config().tensorflow().node_count(), 1);

  spec = Tensorflow(3, 0, 0);  // workers given: 0 parameter servers means none
  ASSERT_TRUE(NormalizeDistributedConfig(&spec).ok());
  EXPECT_EQ(spec.distributed_job_config().tensorflow().parameter_server_count(), 0);

  spec = Tensorflow(0, 2, 0);  // only parameter servers given: one worker
  ASSERT_TRUE(NormalizeDistributedConfig(&spec).ok());
  EXPECT_EQ(spec.distributed_job_config().tensorflow().worker_count(), 1);
  EXPECT_EQ(spec.distributed_job_config().tensorflow().parameter_server_count(), 2);
}

TEST(NormalizeDistributedConfigTest, TensorflowChecks) {
  EXPECT_EQ(ErrorOf(Tensorflow(1, 0, 2)),
            "distributed_job_config.tensorflow.node_count (2) must not exceed the tasks (1 = worker_count + "
            "parameter_server_count)");
  EXPECT_EQ(ErrorOf(Tensorflow(-1, 0, 1)), "distributed_job_config.tensorflow.worker_count (-1) must be at least 1");
  EXPECT_EQ(ErrorOf(Tensorflow(1, -1, 1)),
            "distributed_job_config.tensorflow.parameter_server_count (-1) must be at least 0");
  EXPECT_EQ(ErrorOf(Tensorflow(1, 0, -1)), "distributed_job_config.tensorflow.node_count (-1) must be at least 1");
  EXPECT_EQ(ErrorOf(Tensorflow(kMaxProcessesPerNode + 1, 0, 1)),
            "distributed_job_config.tensorflow.node_count (1) leaves 257 of the 257 tasks (worker_count + "
            "parameter_server_count) per node, more than 256");
  // 4 tasks at 2 per node fill nodes 0 and 1 and leave node 2 empty.
  EXPECT_EQ(ErrorOf(Tensorflow(3, 1, 3)),
            "distributed_job_config.tensorflow.node_count (3): 4 tasks at 2 per node leave the last node without "
            "a task; use 2 node(s) or a task count that fills them");
  RunSpec spec = Tensorflow(3, 2, 3);  // 2, 2, 1
  EXPECT_TRUE(NormalizeDistributedConfig(&spec).ok());
}

TEST(NormalizeDistributedConfigTest, IsIdempotent) {
  for (RunSpec spec : {PyTorch(0, 2, "GLOO"), Mpi(0, 0), Tensorflow(0, 0, 0), Tensorflow(2, 0, 2)}) {
    ASSERT_TRUE(NormalizeDistributedConfig(&spec).ok());
    RunSpec again = spec;
    ASSERT_TRUE(NormalizeDistributedConfig(&again).ok());
    EXPECT_EQ(again.SerializeAsString(), spec.SerializeAsString()) << spec.ShortDebugString();
  }
}

TEST(DistributedNumbersTest, ASpecThatIsNotDistributed) {
  RunSpec spec;
  spec.set_script("train.py");
  EXPECT_EQ(NodeCount(spec), 1);
  EXPECT_EQ(ProcessesPerNode(spec), 1);
  EXPECT_EQ(WorldSize(spec), 1);
  EXPECT_EQ(PortCount(spec), 0);
  EXPECT_EQ(DistributedKind(spec), "");
  EXPECT_FALSE(LaunchesPerProcess(spec));
}

TEST(DistributedNumbersTest, PyTorch) {
  RunSpec spec = PyTorch(4, 2, "gloo");
  EXPECT_TRUE(IsDistributed(spec));
  EXPECT_EQ(DistributedKind(spec), "pytorch");
  EXPECT_EQ(NodeCount(spec), 2);
  EXPECT_EQ(ProcessesPerNode(spec), 2);
  EXPECT_EQ(WorldSize(spec), 4);
  EXPECT_EQ(PortCount(spec), 1);
  EXPECT_TRUE(LaunchesPerProcess(spec));  // a script: the agents start every rank
  spec.clear_script();
  spec.add_command("python3");
  spec.add_command("-m");
  spec.add_command("torch.distributed.run");
  EXPECT_FALSE(LaunchesPerProcess(spec));  // a command: one launcher per node
  EXPECT_EQ(ProcessesPerNode(spec), 2);
}

TEST(DistributedNumbersTest, TheHelpersFillInTheDefaultsOfASpecNeverNormalized) {
  RunSpec spec = PyTorch(0, 3);
  EXPECT_EQ(NodeCount(spec), 3);
  EXPECT_EQ(WorldSize(spec), 3);
  EXPECT_EQ(ProcessesPerNode(spec), 1);
  spec = Tensorflow(0, 0, 0);
  EXPECT_EQ(WorldSize(spec), 2);
  EXPECT_EQ(PortCount(spec), 2);
}

TEST(DistributedNumbersTest, Mpi) {
  RunSpec spec = Mpi(3, 1);
  EXPECT_EQ(DistributedKind(spec), "mpi");
  EXPECT_EQ(NodeCount(spec), 1);
  EXPECT_EQ(ProcessesPerNode(spec), 3);
  EXPECT_EQ(WorldSize(spec), 3);
  EXPECT_EQ(PortCount(spec), 1);
  EXPECT_FALSE(LaunchesPerProcess(spec));  // node 0 runs mpirun
}

TEST(DistributedNumbersTest, TensorflowHasOnePortPerTaskAndSpreadsTasksOverNodes) {
  RunSpec spec = Tensorflow(4, 1, 2);
  EXPECT_EQ(DistributedKind(spec), "tensorflow");
  EXPECT_EQ(NodeCount(spec), 2);
  EXPECT_EQ(WorldSize(spec), 5);
  EXPECT_EQ(ProcessesPerNode(spec), 3);  // ceil(5 / 2): 3 on node 0, the other 2 on node 1
  EXPECT_EQ(PortCount(spec), 5);
  EXPECT_TRUE(LaunchesPerProcess(spec));
}

TEST(DistributedPathsTest, RankAndNodeLogs) {
  EXPECT_EQ(RankLogPath(0), "user_logs/std_log_process_0.txt");
  EXPECT_EQ(RankLogPath(13), "user_logs/std_log_process_13.txt");
  EXPECT_EQ(NodeLogPath(0), "user_logs/std_log.txt");
  EXPECT_EQ(NodeLogPath(2), "user_logs/std_log_node_2.txt");
}

TEST(DistributedPathsTest, NodeFilePath) {
  // Node 0 writes where a normal run does.
  EXPECT_EQ(NodeFilePath(0, "outputs/model.pt"), "outputs/model.pt");
  EXPECT_EQ(NodeFilePath(0, "user_logs/std_log.txt"), "user_logs/std_log.txt");
  // The others under a folder of their own.
  EXPECT_EQ(NodeFilePath(1, "outputs/model.pt"), "outputs/node_1/model.pt");
  EXPECT_EQ(NodeFilePath(3, "outputs/a/b.txt"), "outputs/node_3/a/b.txt");
  EXPECT_EQ(NodeFilePath(1, "logs/x.log"), "logs/node_1/x.log");
  EXPECT_EQ(NodeFilePath(1, "system_logs/run_records.jsonl"), "system_logs/node_1/run_records.jsonl");
  EXPECT_EQ(NodeFilePath(1, "user_logs/std_log.txt"), "user_logs/std_log_node_1.txt");
  EXPECT_EQ(NodeFilePath(1, "user_logs/other.txt"), "user_logs/node_1/other.txt");
  EXPECT_EQ(NodeFilePath(2, "outputs"), "outputs/node_2");
  EXPECT_EQ(NodeFilePath(2, "stray.txt"), "node_2/stray.txt");
  // Rank logs keep their name: ranks are unique across nodes.
  EXPECT_EQ(NodeFilePath(1, "user_logs/std_log_process_3.txt"), "user_logs/std_log_process_3.txt");
}

}  // namespace
}  // namespace runyard::common
