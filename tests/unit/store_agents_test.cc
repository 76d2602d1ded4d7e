// Tests for the agents table of server/store.h: what UpsertAgent/TouchAgent keep, and the
// migration that adds the capability columns to a database made before them.

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "server/sqlite.h"
#include "server/store.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::server {
namespace {

TEST(StoreAgentsTest, KeepsCapabilitiesVersionAndDraining) {
  testutil::ScopedTempDir tmp;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open((tmp.path() / "runyard.db").string());
  ASSERT_TRUE(store.ok()) << store.status();
  AgentRecord agent;
  agent.agent_id = "agent-1";
  agent.name = "a";
  agent.pool = "cpu";
  agent.slots = 2;
  agent.hostname = "node-1";
  agent.version = "0.1.0";
  agent.capabilities.set_cpus(4);
  (*agent.capabilities.mutable_labels())["gpu"] = "none";
  agent.registered_ms = 1000;
  ASSERT_TRUE((*store)->UpsertAgent(agent).ok());
  ASSERT_TRUE((*store)->TouchAgent("agent-1", 5000, /*draining=*/true).ok());

  absl::StatusOr<std::vector<AgentRecord>> listed = (*store)->ListAgents("");
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  const AgentRecord& kept = listed->front();
  EXPECT_EQ(kept.name, "a");
  EXPECT_EQ(kept.slots, 2);
  EXPECT_EQ(kept.version, "0.1.0");
  EXPECT_EQ(kept.capabilities.cpus(), 4);
  EXPECT_EQ(kept.capabilities.labels().at("gpu"), "none");
  EXPECT_EQ(kept.registered_ms, 1000);
  EXPECT_EQ(kept.last_seen_ms, 5000);
  EXPECT_TRUE(kept.draining);
}

TEST(StoreAgentsTest, OldDatabaseGetsTheNewColumns) {
  testutil::ScopedTempDir tmp;
  const std::string path = (tmp.path() / "runyard.db").string();
  {
    // The agents table as the first release made it, with one agent in it.
    absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(path);
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE((*db)->Exec("CREATE TABLE agents(agent_id TEXT PRIMARY KEY, name TEXT NOT NULL, pool TEXT NOT NULL, "
                            "slots INTEGER NOT NULL, hostname TEXT NOT NULL, registered_ms INTEGER NOT NULL, "
                            "last_seen_ms INTEGER NOT NULL);"
                            "INSERT INTO agents VALUES('agent-old', 'old', 'cpu', 1, 'node-0', 10, 20);")
                    .ok());
  }
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::vector<AgentRecord>> listed = (*store)->ListAgents("cpu");
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().agent_id, "agent-old");
  EXPECT_EQ(listed->front().version, "");
  EXPECT_EQ(listed->front().capabilities.cpus(), 0);
  EXPECT_FALSE(listed->front().draining);
  EXPECT_EQ(listed->front().last_seen_ms, 20);

  // Opening it again finds every column there.
  store->reset();
  EXPECT_TRUE(Store::Open(path).ok());
}

}  // namespace
}  // namespace runyard::server
