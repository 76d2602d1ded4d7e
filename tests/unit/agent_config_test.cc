// Tests for agent/config.h: the agent's YAML config file (every key, unknown keys, wrong
// types), validation, and the environment settings handed to the runtime.

#include "agent/config.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using ::runyard::testutil::ScopedTempDir;

class AgentConfigTest : public testing::Test {
 protected:
  absl::Status Load(const std::string& yaml, AgentConfig* config) {
    const fs::path file = dir_.path() / "agent.yaml";
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << yaml;
    out.close();
    return LoadAgentConfigFile(file, config);
  }

  ScopedTempDir dir_;
};

TEST_F(AgentConfigTest, ReadsEveryKey) {
  AgentConfig config;
  absl::Status loaded = Load(R"(
server: "10.0.0.5:9000"
pool: gpu
work_dir: /srv/runyard
slots: 4
name: node-7
kill_grace_seconds: 12
cache_max_bytes: 21474836480
snapshot_materialization: copy
env_cache_max_bytes: 53687091200
base_python: /opt/python3.12/bin/python3
pip_index_url: https://pypi.example.com/simple
pip_extra_index_urls:
  - https://extra1.example.com/simple
  - https://extra2.example.com/simple
pip_find_links: [/srv/wheelhouse, "https://example.com/wheels"]
pip_no_index: true
venv_system_site_packages: yes
conda_executable: /opt/conda/bin/micromamba
environment_setup_timeout_seconds: 600
log_level: debug
)",
                             &config);
  ASSERT_TRUE(loaded.ok()) << loaded;
  EXPECT_EQ(config.server, "10.0.0.5:9000");
  EXPECT_EQ(config.pool, "gpu");
  EXPECT_EQ(config.work_dir, fs::path("/srv/runyard"));
  EXPECT_EQ(config.slots, 4);
  EXPECT_EQ(config.name, "node-7");
  EXPECT_EQ(config.kill_grace_seconds, 12);
  EXPECT_EQ(config.cache_max_bytes, 20LL << 30);
  EXPECT_EQ(config.snapshot_materialization, "copy");
  EXPECT_EQ(config.env_cache_max_bytes, 50LL << 30);
  EXPECT_EQ(config.base_python, "/opt/python3.12/bin/python3");
  EXPECT_EQ(config.pip_index_url, "https://pypi.example.com/simple");
  EXPECT_THAT(config.pip_extra_index_urls,
              ElementsAre("https://extra1.example.com/simple", "https://extra2.example.com/simple"));
  EXPECT_THAT(config.pip_find_links, ElementsAre("/srv/wheelhouse", "https://example.com/wheels"));
  EXPECT_TRUE(config.pip_no_index);
  EXPECT_TRUE(config.venv_system_site_packages);
  EXPECT_EQ(config.conda_executable, "/opt/conda/bin/micromamba");
  EXPECT_EQ(config.environment_setup_timeout_seconds, 600);
  EXPECT_EQ(config.log_level, "debug");
  EXPECT_TRUE(ValidateAgentConfig(config).ok()) << ValidateAgentConfig(config);
}

TEST_F(AgentConfigTest, DefaultsStayForKeysNotGiven) {
  AgentConfig config;
  ASSERT_TRUE(Load("slots: 2\n", &config).ok());
  const AgentConfig defaults;
  EXPECT_EQ(config.slots, 2);
  EXPECT_EQ(config.pool, defaults.pool);
  EXPECT_EQ(config.env_cache_max_bytes, 20LL << 30);
  EXPECT_EQ(config.base_python, "python3");
  EXPECT_THAT(config.pip_index_url, IsEmpty());
  EXPECT_THAT(config.pip_extra_index_urls, IsEmpty());
  EXPECT_THAT(config.pip_find_links, IsEmpty());
  EXPECT_FALSE(config.pip_no_index);
  EXPECT_FALSE(config.venv_system_site_packages);
  EXPECT_THAT(config.conda_executable, IsEmpty());
  EXPECT_EQ(config.environment_setup_timeout_seconds, 1800);
  EXPECT_TRUE(ValidateAgentConfig(defaults).ok()) << ValidateAgentConfig(defaults);
}

TEST_F(AgentConfigTest, EmptyFileChangesNothing) {
  AgentConfig config;
  config.slots = 3;
  ASSERT_TRUE(Load("", &config).ok());
  EXPECT_EQ(config.slots, 3);
}

TEST_F(AgentConfigTest, FalseBooleansAndEmptyListsAreRead) {
  AgentConfig config;
  config.pip_no_index = true;
  config.venv_system_site_packages = true;
  config.pip_find_links = {"/old"};
  ASSERT_TRUE(Load("pip_no_index: false\nvenv_system_site_packages: no\npip_find_links: []\n", &config).ok());
  EXPECT_FALSE(config.pip_no_index);
  EXPECT_FALSE(config.venv_system_site_packages);
  EXPECT_THAT(config.pip_find_links, IsEmpty());
}

TEST_F(AgentConfigTest, KeyWithoutValueIsNotTheStringNull) {
  // `conda_executable:` left blank (YAML null) must not become the tool "null", nor
  // `pip_index_url:` the option `--index-url null`: either unset or refused naming the key.
  // "key:" with no value keeps the default rather than becoming the string "null".
  for (const std::string key : {"pip_index_url", "conda_executable", "base_python", "server", "name"}) {
    AgentConfig config;
    config.pip_index_url.clear();
    config.conda_executable.clear();
    absl::Status loaded = Load(key + ":\n", &config);
    if (!loaded.ok()) {
      EXPECT_THAT(loaded.message(), HasSubstr("'" + key + "'"));
      continue;
    }
    EXPECT_NE(config.pip_index_url, "null") << key;
    EXPECT_NE(config.conda_executable, "null") << key;
    EXPECT_NE(config.base_python, "null") << key;
    EXPECT_NE(config.server, "null") << key;
    EXPECT_NE(config.name, "null") << key;
  }
}

TEST_F(AgentConfigTest, UnknownKeyIsRefusedNamingIt) {
  AgentConfig config;
  absl::Status loaded = Load("slots: 2\npip_find_link: /srv/wheelhouse\n", &config);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(loaded.message(), HasSubstr("unknown key 'pip_find_link'"));
}

TEST_F(AgentConfigTest, WrongTypesAreRefusedNamingTheKey) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"slots", "slots: many\n"},
      {"environment_setup_timeout_seconds", "environment_setup_timeout_seconds: 1.5h\n"},
      {"env_cache_max_bytes", "env_cache_max_bytes: 20GB\n"},
      {"pip_no_index", "pip_no_index: maybe\n"},
      {"venv_system_site_packages", "venv_system_site_packages: [true]\n"},
      {"pip_find_links", "pip_find_links: /srv/wheelhouse\n"},
      {"pip_extra_index_urls", "pip_extra_index_urls: {a: b}\n"},
      {"pip_index_url", "pip_index_url: [a, b]\n"},
      {"conda_executable", "conda_executable: {path: /opt/conda}\n"},
      {"base_python", "base_python: [python3]\n"},
  };
  for (const auto& [key, yaml] : cases) {
    AgentConfig config;
    absl::Status loaded = Load(yaml, &config);
    ASSERT_FALSE(loaded.ok()) << yaml;
    EXPECT_EQ(loaded.code(), absl::StatusCode::kInvalidArgument) << yaml;
    EXPECT_THAT(loaded.message(), HasSubstr("'" + key + "'")) << yaml;
    EXPECT_THAT(loaded.message(), HasSubstr("wrong type")) << yaml;
  }
}

TEST_F(AgentConfigTest, NonMappingAndBrokenYamlAreRefused) {
  AgentConfig config;
  absl::Status list = Load("- slots\n- 2\n", &config);
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.code(), absl::StatusCode::kInvalidArgument);
  absl::Status broken = Load("slots: [1, 2\n", &config);
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.code(), absl::StatusCode::kInvalidArgument);
  absl::Status missing = LoadAgentConfigFile(dir_.path() / "nope.yaml", &config);
  EXPECT_FALSE(missing.ok());
}

TEST(AgentConfigValidateTest, RefusesZeroSlots) {
  AgentConfig config;
  config.slots = 0;
  absl::Status valid = ValidateAgentConfig(config);
  ASSERT_FALSE(valid.ok());
  EXPECT_EQ(valid.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(valid.message(), HasSubstr("slots"));
}

TEST(AgentConfigValidateTest, RefusesPoolLocalAndEmptyPool) {
  AgentConfig config;
  config.pool = "local";
  absl::Status valid = ValidateAgentConfig(config);
  ASSERT_FALSE(valid.ok());
  EXPECT_EQ(valid.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(valid.message(), HasSubstr("local"));
  config.pool = "";
  EXPECT_FALSE(ValidateAgentConfig(config).ok());
}

TEST(AgentConfigValidateTest, RefusesBadSnapshotMaterialization) {
  AgentConfig config;
  for (const char* good : {"auto", "copy", "overlay"}) {
    config.snapshot_materialization = good;
    EXPECT_TRUE(ValidateAgentConfig(config).ok()) << good;
  }
  config.snapshot_materialization = "hardlink";
  absl::Status valid = ValidateAgentConfig(config);
  ASSERT_FALSE(valid.ok());
  EXPECT_EQ(valid.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(valid.message(), HasSubstr("snapshot_materialization"));
}

TEST(AgentConfigValidateTest, RefusesNonPositiveEnvironmentSetupTimeout) {
  AgentConfig config;
  for (int seconds : {0, -1}) {
    config.environment_setup_timeout_seconds = seconds;
    absl::Status valid = ValidateAgentConfig(config);
    ASSERT_FALSE(valid.ok()) << seconds;
    EXPECT_EQ(valid.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(valid.message(), HasSubstr("environment_setup_timeout_seconds"));
  }
  config.environment_setup_timeout_seconds = 1;
  EXPECT_TRUE(ValidateAgentConfig(config).ok());
}

TEST(AgentConfigValidateTest, RefusesOtherBadValues) {
  AgentConfig negative_grace;
  negative_grace.kill_grace_seconds = -1;
  EXPECT_FALSE(ValidateAgentConfig(negative_grace).ok());
  AgentConfig no_work_dir;
  no_work_dir.work_dir.clear();
  EXPECT_FALSE(ValidateAgentConfig(no_work_dir).ok());
  AgentConfig negative_cache;
  negative_cache.cache_max_bytes = -1;
  EXPECT_FALSE(ValidateAgentConfig(negative_cache).ok());
}

TEST(AgentConfigEnvironmentSettingsTest, MapsEveryField) {
  AgentConfig config;
  config.base_python = "/opt/python3.12/bin/python3";
  config.pip_index_url = "https://pypi.example.com/simple";
  config.pip_extra_index_urls = {"https://extra1.example.com/simple", "https://extra2.example.com/simple"};
  config.pip_find_links = {"/srv/wheelhouse"};
  config.pip_no_index = true;
  config.venv_system_site_packages = true;
  config.conda_executable = "/opt/conda/bin/micromamba";
  config.environment_setup_timeout_seconds = 123;

  const runtime::EnvironmentSettings settings = EnvironmentSettingsOf(config);
  EXPECT_EQ(settings.default_base_python, "/opt/python3.12/bin/python3");
  EXPECT_EQ(settings.pip.index_url, "https://pypi.example.com/simple");
  EXPECT_THAT(settings.pip.extra_index_urls,
              ElementsAre("https://extra1.example.com/simple", "https://extra2.example.com/simple"));
  EXPECT_THAT(settings.pip.find_links, ElementsAre("/srv/wheelhouse"));
  EXPECT_TRUE(settings.pip.no_index);
  EXPECT_TRUE(settings.pip.system_site_packages);
  EXPECT_EQ(settings.conda_executable, "/opt/conda/bin/micromamba");
  EXPECT_EQ(settings.setup_timeout, std::chrono::seconds(123));
}

TEST(AgentConfigEnvironmentSettingsTest, DefaultsMatchTheRuntimeDefaults) {
  const runtime::EnvironmentSettings settings = EnvironmentSettingsOf(AgentConfig{});
  const runtime::EnvironmentSettings runtime_defaults;
  EXPECT_EQ(settings.default_base_python, runtime_defaults.default_base_python);
  EXPECT_EQ(settings.setup_timeout, runtime_defaults.setup_timeout);
  EXPECT_FALSE(settings.pip.no_index);
  EXPECT_FALSE(settings.pip.system_site_packages);
  EXPECT_THAT(settings.pip.find_links, IsEmpty());
  EXPECT_THAT(settings.conda_executable, IsEmpty());
}

}  // namespace
}  // namespace runyard::agent
