// Tests for distributed_job_config in run spec YAML (common/spec_yaml.h): the three kinds,
// Azure's defaults filled in, and clear errors for what is not a valid config.

#include <string>

#include "common/spec_yaml.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace runyard::common {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<runyard::v1::RunSpec> Parse(const std::string& distributed) {
  return ParseRunSpecYaml("script: train.py\ndistributed_job_config:\n" + distributed);
}

std::string ErrorOf(const std::string& distributed) {
  absl::StatusOr<runyard::v1::RunSpec> spec = Parse(distributed);
  EXPECT_FALSE(spec.ok()) << "parsed unexpectedly:\n" << distributed;
  EXPECT_TRUE(absl::IsInvalidArgument(spec.status())) << spec.status();
  return std::string(spec.status().message());
}

TEST(SpecYamlDistributedTest, PyTorch) {
  absl::StatusOr<runyard::v1::RunSpec> spec =
      Parse("  pytorch:\n    process_count: 4\n    node_count: 2\n    communication_backend: Gloo\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  const auto& pytorch = spec->distributed_job_config().pytorch();
  EXPECT_EQ(pytorch.process_count(), 4);
  EXPECT_EQ(pytorch.node_count(), 2);
  EXPECT_EQ(pytorch.communication_backend(), "gloo");  // normalized
}

TEST(SpecYamlDistributedTest, AKindWithNothingUnderItTakesAzuresDefaults) {
  for (const std::string& yaml : {"  pytorch:\n", "  pytorch: {}\n"}) {
    absl::StatusOr<runyard::v1::RunSpec> spec = Parse(yaml);
    ASSERT_TRUE(spec.ok()) << spec.status();
    ASSERT_TRUE(spec->distributed_job_config().has_pytorch());
    const auto& pytorch = spec->distributed_job_config().pytorch();
    EXPECT_EQ(pytorch.process_count(), 1);
    EXPECT_EQ(pytorch.node_count(), 1);
    EXPECT_EQ(pytorch.communication_backend(), "nccl");
  }
}

TEST(SpecYamlDistributedTest, Mpi) {
  absl::StatusOr<runyard::v1::RunSpec> spec = Parse("  mpi: {process_count_per_node: 3}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->distributed_job_config().mpi().process_count_per_node(), 3);
  EXPECT_EQ(spec->distributed_job_config().mpi().node_count(), 1);
}

TEST(SpecYamlDistributedTest, Tensorflow) {
  absl::StatusOr<runyard::v1::RunSpec> spec =
      Parse("  tensorflow:\n    worker_count: 2\n    parameter_server_count: 1\n    node_count: 2\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  const auto& tensorflow = spec->distributed_job_config().tensorflow();
  EXPECT_EQ(tensorflow.worker_count(), 2);
  EXPECT_EQ(tensorflow.parameter_server_count(), 1);
  EXPECT_EQ(tensorflow.node_count(), 2);
}

TEST(SpecYamlDistributedTest, ExactlyOneKind) {
  EXPECT_EQ(ErrorOf("  pytorch: {}\n  mpi: {}\n"),
            "spec field 'distributed_job_config': give exactly one of pytorch, mpi or tensorflow");
  EXPECT_THAT(ErrorOf("  horovod: {}\n"), HasSubstr("spec field 'distributed_job_config.horovod': unknown field"));
  EXPECT_THAT(ErrorOf("  [pytorch]\n"), HasSubstr("'distributed_job_config': expected a mapping"));
}

TEST(SpecYamlDistributedTest, UnknownKeysAndNonIntegersNameTheKey) {
  EXPECT_THAT(ErrorOf("  pytorch: {process_count: 2, nodes: 2}\n"),
              HasSubstr("spec field 'distributed_job_config.pytorch.nodes': unknown field (known here: "
                        "communication_backend, node_count, process_count)"));
  EXPECT_EQ(ErrorOf("  pytorch: {process_count: four}\n"),
            "spec field 'distributed_job_config.pytorch.process_count': expected an integer, got 'four'");
  EXPECT_EQ(ErrorOf("  mpi: {node_count: 1.5}\n"),
            "spec field 'distributed_job_config.mpi.node_count': expected an integer, got '1.5'");
  EXPECT_EQ(ErrorOf("  tensorflow: {worker_count: [1]}\n"),
            "spec field 'distributed_job_config.tensorflow.worker_count': expected an integer, got a list");
  EXPECT_THAT(ErrorOf("  tensorflow: {parameter_servers: 1}\n"),
              HasSubstr("'distributed_job_config.tensorflow.parameter_servers': unknown field"));
  EXPECT_EQ(ErrorOf("  pytorch: {communication_backend: [gloo]}\n"),
            "spec field 'distributed_job_config.pytorch.communication_backend': expected a string, got a list");
}

TEST(SpecYamlDistributedTest, TheConfigsChecksAreTheSpecsErrors) {
  EXPECT_EQ(ErrorOf("  pytorch: {process_count: 5, node_count: 2}\n"),
            "distributed_job_config.pytorch.process_count (5) must be divisible by node_count (2)");
  EXPECT_EQ(ErrorOf("  mpi: {process_count_per_node: -1}\n"),
            "distributed_job_config.mpi.process_count_per_node (-1) must be at least 1");
}

TEST(SpecYamlDistributedTest, ValidateRunSpecChecksASpecThatNeverWentThroughYaml) {
  runyard::v1::RunSpec spec;
  spec.set_script("train.py");
  spec.mutable_distributed_job_config()->mutable_pytorch()->set_process_count(3);
  spec.mutable_distributed_job_config()->mutable_pytorch()->set_node_count(2);
  absl::Status status = ValidateRunSpec(spec);
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_THAT(std::string(status.message()), HasSubstr("must be divisible by node_count (2)"));
  spec.mutable_distributed_job_config()->mutable_pytorch()->set_process_count(4);
  EXPECT_TRUE(ValidateRunSpec(spec).ok());
}

}  // namespace
}  // namespace runyard::common
