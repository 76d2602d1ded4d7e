// Tests for the node's side of the in-run API's folder: runtime/run_api_channel.h (the
// folder and its files), the script's variables (runtime/command_line.h), where the SDK is
// found (common/sdk_location.h), and the spec and agent settings that steer it.

#include "runtime/run_api_channel.h"

#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "agent/config.h"
#include "common/sdk_location.h"
#include "common/spec_yaml.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/command_line.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::runtime {
namespace {

namespace fs = std::filesystem;
using ::runyard::testutil::ScopedTempDir;
using ::testing::HasSubstr;

std::string Slurp(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class RunApiChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<Workspace> workspace = CreateWorkspace(tmp_.path(), "run_7");
    ASSERT_TRUE(workspace.ok()) << workspace.status();
    workspace_ = *workspace;
    spec_.set_experiment("mnist");
    spec_.set_display_name("first try");
    spec_.set_compute_target("gpu-pool");
    (*spec_.mutable_tags())["team"] = "vision";
    (*spec_.mutable_properties())["runyard.git.commit"] = "abc123";
  }

  ScopedTempDir tmp_;
  Workspace workspace_;
  runyard::v1::RunSpec spec_;
};

TEST_F(RunApiChannelTest, CreatesTheFilesTheScriptUses) {
  absl::StatusOr<RunApiChannel> channel =
      CreateRunApiChannel(workspace_, "run_7", spec_, RunApiLimits{}, std::nullopt);
  ASSERT_TRUE(channel.ok()) << channel.status();
  EXPECT_EQ(channel->dir, workspace_.root / "run_api");
  EXPECT_EQ(Slurp(channel->records), "");
  EXPECT_EQ(Slurp(channel->committed), "00000000000000000000\n");

  const nlohmann::json context = nlohmann::json::parse(Slurp(channel->context));
  EXPECT_EQ(context["run_id"], "run_7");
  EXPECT_EQ(context["experiment"], "mnist");
  EXPECT_EQ(context["display_name"], "first try");
  EXPECT_EQ(context["parent_run_id"], "");
  EXPECT_EQ(context["compute_target"], "gpu-pool");
  EXPECT_EQ(context["tags"]["team"], "vision");
  EXPECT_EQ(context["properties"]["runyard.git.commit"], "abc123");
  EXPECT_EQ(context["limits"]["max_metric_values"], 5000000);
  EXPECT_EQ(context["limits"]["max_children"], 10000);
  EXPECT_EQ(context["limits"]["max_tags"], 1000);
  EXPECT_EQ(context["limits"]["max_name_chars"], 255);
  EXPECT_EQ(context["limits"]["max_text_value_chars"], 65536);
  EXPECT_EQ(context["records"], channel->records.string());
  EXPECT_EQ(context["committed"], channel->committed.string());
  EXPECT_EQ(context["images_dir"], (workspace_.logs() / "images").string());
  EXPECT_EQ(context["logs_dir"], workspace_.logs().string());
  EXPECT_EQ(context["outputs_dir"], workspace_.outputs().string());
}

TEST_F(RunApiChannelTest, ConfiguredLimitsReachTheScript) {
  RunApiLimits limits;
  limits.max_metric_values_per_run = 12;
  limits.max_children_per_run = 3;
  limits.max_tags_per_run = 4;
  absl::StatusOr<RunApiChannel> channel =
      CreateRunApiChannel(workspace_, "run_7", spec_, limits, std::nullopt);
  ASSERT_TRUE(channel.ok()) << channel.status();
  const nlohmann::json context = nlohmann::json::parse(Slurp(channel->context));
  EXPECT_EQ(context["limits"]["max_metric_values"], 12);
  EXPECT_EQ(context["limits"]["max_children"], 3);
  EXPECT_EQ(context["limits"]["max_tags"], 4);
}

TEST_F(RunApiChannelTest, TheFolderAndWhatTheRuntimeReadsStayTheRuntimes) {
  absl::StatusOr<RunApiChannel> channel =
      CreateRunApiChannel(workspace_, "run_7", spec_, RunApiLimits{}, std::nullopt);
  ASSERT_TRUE(channel.ok()) << channel.status();
  struct stat info {};
  ASSERT_EQ(::stat(channel->dir.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0755u);  // no one else may swap a file in it
  ASSERT_EQ(::stat(channel->committed.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0644u);
}

TEST_F(RunApiChannelTest, ARunAgainStartsFromNothing) {
  ASSERT_TRUE(CreateRunApiChannel(workspace_, "run_7", spec_, RunApiLimits{}, std::nullopt).ok());
  std::ofstream(RunApiChannelAt(workspace_.root).records, std::ios::app) << "{\"k\":\"tag\"}\n";
  absl::StatusOr<RunApiChannel> again =
      CreateRunApiChannel(workspace_, "run_7", spec_, RunApiLimits{}, std::nullopt);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Slurp(again->records), "");
}

TEST(CommittedTextTest, IsTwentyDigitsAndANewline) {
  EXPECT_EQ(CommittedText(0), "00000000000000000000\n");
  EXPECT_EQ(CommittedText(1234567), "00000000000001234567\n");
  EXPECT_EQ(CommittedText(INT64_MAX).size(), 21u);
}

TEST(RunApiEnvironmentTest, PointsTheScriptAtTheChannelAndTheSdk) {
  runyard::v1::RunSpec spec;
  std::map<std::string, std::string> environment{{"PYTHONPATH", "/mine"}};
  AddRunApiEnvironment(spec, "/w/runs/r/run_api", "/opt/sdk", environment);
  EXPECT_EQ(environment["RUNYARD_RUN_API_DIR"], "/w/runs/r/run_api");
  EXPECT_EQ(environment["PYTHONPATH"], "/opt/sdk:/mine");

  std::map<std::string, std::string> bare;
  AddRunApiEnvironment(spec, "/w/runs/r/run_api", "/opt/sdk", bare);
  EXPECT_EQ(bare["PYTHONPATH"], "/opt/sdk");
}

TEST(RunApiEnvironmentTest, NoSdkWhenTheSpecOptsOutOrThereIsNone) {
  runyard::v1::RunSpec spec;
  spec.set_azureml_compat(false);
  std::map<std::string, std::string> environment{{"PYTHONPATH", "/mine"}};
  AddRunApiEnvironment(spec, "/run_api", "/opt/sdk", environment);
  EXPECT_EQ(environment["PYTHONPATH"], "/mine");
  EXPECT_EQ(environment["RUNYARD_RUN_API_DIR"], "/run_api");  // the channel is still there

  spec.set_azureml_compat(true);
  std::map<std::string, std::string> no_sdk;
  AddRunApiEnvironment(spec, "/run_api", "", no_sdk);
  EXPECT_FALSE(no_sdk.contains("PYTHONPATH"));
}

class SdkLocationTest : public ::testing::Test {
 protected:
  void Plant(const fs::path& sdk) {
    fs::create_directories(sdk / "runyard");
    std::ofstream(sdk / "runyard" / "__init__.py");
  }
  ScopedTempDir tmp_;
};

TEST_F(SdkLocationTest, TheBuildTreeNextToTheBinary) {
  Plant(tmp_.path() / "sdk" / "python");
  EXPECT_EQ(common::FindSdkPythonDir(tmp_.path() / "cli" / "runyard"),
            tmp_.path() / "sdk" / "python");
}

TEST_F(SdkLocationTest, AnInstalledSdkComesFirst) {
  Plant(tmp_.path() / "sdk" / "python");
  Plant(tmp_.path() / "share" / "runyard" / "python");
  EXPECT_EQ(common::FindSdkPythonDir(tmp_.path() / "bin" / "runyard-agent"),
            tmp_.path() / "share" / "runyard" / "python");
}

TEST_F(SdkLocationTest, NothingWhereNoSdkLies) {
  fs::create_directories(tmp_.path() / "sdk" / "python");  // a folder without the package
  EXPECT_EQ(common::FindSdkPythonDir(tmp_.path() / "bin" / "runyard"), fs::path());
}

TEST(RunApiSpecTest, AzuremlCompatIsReadFromTheSpec) {
  absl::StatusOr<runyard::v1::RunSpec> off =
      common::ParseRunSpecYaml("script: train.py\nazureml_compat: false\n");
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_TRUE(off->has_azureml_compat());
  EXPECT_FALSE(off->azureml_compat());

  absl::StatusOr<runyard::v1::RunSpec> absent = common::ParseRunSpecYaml("script: train.py\n");
  ASSERT_TRUE(absent.ok()) << absent.status();
  EXPECT_FALSE(absent->has_azureml_compat());
}

TEST(RunApiSpecTest, ANonBooleanAzuremlCompatIsRefusedNamingIt) {
  absl::StatusOr<runyard::v1::RunSpec> bad =
      common::ParseRunSpecYaml("script: train.py\nazureml_compat: maybe\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("'azureml_compat'"));
  EXPECT_THAT(bad.status().message(), HasSubstr("true or false"));
}

TEST(RunApiAgentConfigTest, SdkAndLimitKeysAreRead) {
  ScopedTempDir tmp;
  const fs::path file = tmp.path() / "agent.yaml";
  std::ofstream(file) << "sdk_python_dir: /opt/runyard/python\n"
                         "max_metric_values_per_run: 100\n"
                         "max_children_per_run: 5\n"
                         "max_tags_per_run: 7\n";
  agent::AgentConfig config;
  ASSERT_TRUE(agent::LoadAgentConfigFile(file, &config).ok());
  EXPECT_EQ(config.sdk_python_dir, "/opt/runyard/python");
  EXPECT_EQ(config.max_metric_values_per_run, 100);
  EXPECT_EQ(config.max_children_per_run, 5);
  EXPECT_EQ(config.max_tags_per_run, 7);
  EXPECT_TRUE(agent::ValidateAgentConfig(config).ok());
  EXPECT_EQ(agent::SdkPythonDirOf(config), fs::path("/opt/runyard/python"));
  config.sdk_python_dir = "none";
  EXPECT_EQ(agent::SdkPythonDirOf(config), fs::path());
}

TEST(RunApiAgentConfigTest, BadValuesAreRefusedNamingTheKey) {
  agent::AgentConfig config;
  config.max_children_per_run = 0;
  EXPECT_THAT(agent::ValidateAgentConfig(config).message(), HasSubstr("max_children_per_run"));
  config = agent::AgentConfig{};
  config.sdk_python_dir = "relative/sdk";
  EXPECT_THAT(agent::ValidateAgentConfig(config).message(), HasSubstr("sdk_python_dir"));
}

}  // namespace
}  // namespace runyard::runtime
