// Tests for cli/agent_listing.h: what `runyard agents` prints, as a table and as JSON.

#include "cli/agent_listing.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace runyard::cli {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kNow = 1'800'000'000'000;

runyard::v1::AgentInfo GpuAgent() {
  runyard::v1::AgentInfo agent;
  agent.set_agent_id("agent-1");
  agent.set_name("node-a");
  agent.set_pool("gpu");
  agent.set_hostname("host-a");
  agent.set_version("0.1.0");
  agent.set_state(runyard::v1::AGENT_STATE_BUSY);
  agent.set_slots(2);
  agent.add_active_run_ids("run-1");
  agent.add_active_run_ids("run-2");
  auto* capabilities = agent.mutable_capabilities();
  capabilities->set_cpus(16);
  capabilities->set_memory_bytes(64LL << 30);
  for (int i = 0; i < 2; ++i) {
    auto* gpu = capabilities->add_gpus();
    gpu->set_index(i);
    gpu->set_name("NVIDIA H100");
    gpu->set_memory_bytes(80LL << 30);
    gpu->set_uuid("GPU-" + std::to_string(i));
  }
  (*capabilities->mutable_labels())["zone"] = "b";
  (*capabilities->mutable_labels())["rack"] = "7";
  agent.set_registered_unix_ms(kNow - 3'600'000);
  agent.set_last_heartbeat_unix_ms(kNow - 3'000);
  agent.set_identity("agent token 1a2b3c4d5e6f, joined with join token 0f9e8d7c6b5a");
  return agent;
}

runyard::v1::AgentInfo IdleCpuAgent() {
  runyard::v1::AgentInfo agent;
  agent.set_agent_id("agent-2");
  agent.set_name("b");
  agent.set_pool("cpu");
  agent.set_state(runyard::v1::AGENT_STATE_IDLE);
  agent.mutable_capabilities()->set_cpus(2);
  agent.mutable_capabilities()->set_memory_bytes(512LL << 20);
  agent.set_last_heartbeat_unix_ms(kNow);
  return agent;
}

TEST(AgentListingTest, StateNames) {
  EXPECT_EQ(AgentStateName(runyard::v1::AGENT_STATE_IDLE), "idle");
  EXPECT_EQ(AgentStateName(runyard::v1::AGENT_STATE_BUSY), "busy");
  EXPECT_EQ(AgentStateName(runyard::v1::AGENT_STATE_DRAINING), "draining");
  EXPECT_EQ(AgentStateName(runyard::v1::AGENT_STATE_LOST), "lost");
  EXPECT_EQ(AgentStateName(runyard::v1::AGENT_STATE_OFFLINE), "offline");
}

TEST(AgentListingTest, Ago) {
  EXPECT_EQ(Ago(kNow - 3'400, kNow), "3s ago");
  EXPECT_EQ(Ago(kNow + 500, kNow), "0s ago");  // the server's clock a little ahead
  EXPECT_EQ(Ago(kNow - 125'000, kNow), "2m ago");
  EXPECT_EQ(Ago(kNow - 7'200'000, kNow), "2h ago");
  EXPECT_EQ(Ago(kNow - 3 * 86'400'000LL, kNow), "3d ago");
}

TEST(AgentListingTest, TableHasOneLinePerAgentWithEveryColumn) {
  const std::string table = AgentTable({GpuAgent(), IdleCpuAgent()}, kNow);
  EXPECT_EQ(table,
            "NAME    POOL  STATE  CPUS  MEMORY    GPUS            LABELS         ACTIVE RUNS  HEARTBEAT  IDENTITY\n"
            "node-a  gpu   busy   16    64.0 GiB  2x NVIDIA H100  rack=7,zone=b  run-1,run-2  3s ago     "
            "agent token 1a2b3c4d5e6f, joined with join token 0f9e8d7c6b5a\n"
            "b       cpu   idle   2     512 MiB   -               -              -            0s ago     -\n");
}

TEST(AgentListingTest, JsonHasEveryFieldWithNumbersAsNumbers) {
  const nlohmann::json json = AgentsToJson({GpuAgent()});
  ASSERT_TRUE(json.is_array());
  ASSERT_EQ(json.size(), 1u);
  const nlohmann::json& agent = json[0];
  EXPECT_EQ(agent["agent_id"], "agent-1");
  EXPECT_EQ(agent["name"], "node-a");
  EXPECT_EQ(agent["pool"], "gpu");
  EXPECT_EQ(agent["hostname"], "host-a");
  EXPECT_EQ(agent["version"], "0.1.0");
  EXPECT_EQ(agent["state"], "busy");
  EXPECT_EQ(agent["slots"], 2);
  EXPECT_EQ(agent["active_run_ids"], nlohmann::json({"run-1", "run-2"}));
  EXPECT_EQ(agent["capabilities"]["cpus"], 16);
  EXPECT_EQ(agent["capabilities"]["memory_bytes"], 64LL << 30);
  ASSERT_EQ(agent["capabilities"]["gpus"].size(), 2u);
  EXPECT_EQ(agent["capabilities"]["gpus"][1],
            nlohmann::json({{"index", 1}, {"name", "NVIDIA H100"}, {"memory_bytes", 80LL << 30}, {"uuid", "GPU-1"}}));
  EXPECT_EQ(agent["capabilities"]["labels"], nlohmann::json({{"rack", "7"}, {"zone", "b"}}));
  EXPECT_EQ(agent["registered_unix_ms"], kNow - 3'600'000);
  EXPECT_EQ(agent["last_heartbeat_unix_ms"], kNow - 3'000);
  EXPECT_EQ(agent["identity"], "agent token 1a2b3c4d5e6f, joined with join token 0f9e8d7c6b5a");
  EXPECT_THAT(agent["last_heartbeat"].get<std::string>(), HasSubstr("T"));
}

TEST(AgentListingTest, NoAgentIsAnEmptyArray) {
  EXPECT_EQ(AgentsToJson({}).dump(), "[]");
}

}  // namespace
}  // namespace runyard::cli
