// The store suite (tests/unit/store_suite.h), agents: what UpsertAgent and TouchAgent keep,
// AgentPool, and ListAgents' filter and order.

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "tests/unit/store_suite.h"

namespace runyard::server::test_support {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

AgentRecord Agent(const std::string& agent_id, const std::string& name, const std::string& pool,
                  int64_t registered_ms) {
  AgentRecord agent;
  agent.agent_id = agent_id;
  agent.name = name;
  agent.pool = pool;
  agent.slots = 1;
  agent.hostname = "node-" + name;
  agent.registered_ms = registered_ms;
  return agent;
}

std::vector<std::string> Ids(const std::vector<AgentRecord>& agents) {
  std::vector<std::string> ids;
  for (const auto& agent : agents) ids.push_back(agent.agent_id);
  return ids;
}

TEST_P(StoreSuite, KeepsCapabilitiesVersionAndDraining) {
  AgentRecord agent = Agent("agent-1", "a", "cpu", 1000);
  agent.slots = 2;
  agent.hostname = "node-1";
  agent.version = "0.1.0";
  agent.capabilities.set_cpus(4);
  (*agent.capabilities.mutable_labels())["gpu"] = "none";
  ASSERT_TRUE(store().UpsertAgent(agent).ok());
  ASSERT_TRUE(store().TouchAgent("agent-1", 5000, /*draining=*/true).ok());

  absl::StatusOr<std::vector<AgentRecord>> listed = store().ListAgents("");
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  const AgentRecord& kept = listed->front();
  EXPECT_EQ(kept.agent_id, "agent-1");
  EXPECT_EQ(kept.name, "a");
  EXPECT_EQ(kept.pool, "cpu");
  EXPECT_EQ(kept.slots, 2);
  EXPECT_EQ(kept.hostname, "node-1");
  EXPECT_EQ(kept.version, "0.1.0");
  EXPECT_EQ(kept.capabilities.cpus(), 4);
  EXPECT_EQ(kept.capabilities.labels().at("gpu"), "none");
  EXPECT_EQ(kept.registered_ms, 1000);
  EXPECT_EQ(kept.last_seen_ms, 5000);
  EXPECT_TRUE(kept.draining);
}

TEST_P(StoreSuite, RegisteringAgainReplacesAllButTheFirstRegistration) {
  ASSERT_TRUE(store().UpsertAgent(Agent("agent-1", "a", "cpu", 1000)).ok());
  ASSERT_TRUE(store().TouchAgent("agent-1", 2000, /*draining=*/true).ok());
  AgentRecord again = Agent("agent-1", "b", "gpu", 3000);
  again.slots = 8;
  again.version = "0.2.0";
  ASSERT_TRUE(store().UpsertAgent(again).ok());

  absl::StatusOr<std::vector<AgentRecord>> listed = store().ListAgents("");
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  const AgentRecord& kept = listed->front();
  EXPECT_EQ(kept.name, "b");
  EXPECT_EQ(kept.pool, "gpu");
  EXPECT_EQ(kept.slots, 8);
  EXPECT_EQ(kept.version, "0.2.0");
  EXPECT_EQ(kept.registered_ms, 1000);
  EXPECT_EQ(kept.last_seen_ms, 3000);
  EXPECT_FALSE(kept.draining);
}

TEST_P(StoreSuite, AgentPoolOfRegisteredAgent) {
  ASSERT_TRUE(store().UpsertAgent(Agent("agent-1", "a", "gpu", 1000)).ok());
  absl::StatusOr<std::string> pool = store().AgentPool("agent-1");
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_EQ(*pool, "gpu");
  EXPECT_EQ(store().AgentPool("agent-2").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreSuite, TouchAgentWithoutDrainingClearsIt) {
  ASSERT_TRUE(store().UpsertAgent(Agent("agent-1", "a", "cpu", 1000)).ok());
  ASSERT_TRUE(store().TouchAgent("agent-1", 2000, /*draining=*/true).ok());
  ASSERT_TRUE(store().TouchAgent("agent-1", 3000, /*draining=*/false).ok());
  absl::StatusOr<std::vector<AgentRecord>> listed = store().ListAgents("cpu");
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().last_seen_ms, 3000);
  EXPECT_FALSE(listed->front().draining);
}

TEST_P(StoreSuite, ListAgentsByPoolNameAndRegistration) {
  ASSERT_TRUE(store().UpsertAgent(Agent("g-b", "b", "gpu", 1000)).ok());
  ASSERT_TRUE(store().UpsertAgent(Agent("c-b", "b", "cpu", 1000)).ok());
  ASSERT_TRUE(store().UpsertAgent(Agent("c-a-late", "a", "cpu", 2000)).ok());
  ASSERT_TRUE(store().UpsertAgent(Agent("c-a-early", "a", "cpu", 1500)).ok());

  absl::StatusOr<std::vector<AgentRecord>> all = store().ListAgents("");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(Ids(*all), ElementsAre("c-a-early", "c-a-late", "c-b", "g-b"));
  absl::StatusOr<std::vector<AgentRecord>> cpu = store().ListAgents("cpu");
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_THAT(Ids(*cpu), ElementsAre("c-a-early", "c-a-late", "c-b"));
  absl::StatusOr<std::vector<AgentRecord>> none = store().ListAgents("tpu");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_THAT(*none, IsEmpty());
}

}  // namespace
}  // namespace runyard::server::test_support
