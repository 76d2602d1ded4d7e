// Tests for server/sqlite_schema.h: a database made by the first release gets the columns
// added since, keeping its rows, and opening it again finds them there.

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/sqlite.h"
#include "server/sqlite_store.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::server {
namespace {

TEST(StoreSqliteMigrationTest, OldDatabaseGetsTheNewColumns) {
  testutil::ScopedTempDir tmp;
  const std::string path = (tmp.path() / "runyard.db").string();
  {
    // The agents table as the first release made it, with one agent in it.
    absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(path);
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE((*db)
                    ->Exec("CREATE TABLE agents(agent_id TEXT PRIMARY KEY, name TEXT NOT NULL, "
                           "pool TEXT NOT NULL, slots INTEGER NOT NULL, hostname TEXT NOT NULL, "
                           "registered_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL);"
                           "INSERT INTO agents VALUES('agent-old', 'old', 'cpu', 1, 'node-0', 10, "
                           "20);")
                    .ok());
  }
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::vector<AgentRecord>> listed = (*store)->ListAgents("cpu");
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().agent_id, "agent-old");
  EXPECT_EQ(listed->front().version, "");
  EXPECT_EQ(listed->front().capabilities.cpus(), 0);
  EXPECT_FALSE(listed->front().draining);
  EXPECT_EQ(listed->front().last_seen_ms, 20);
  // The new columns take writes.
  ASSERT_TRUE((*store)->TouchAgent("agent-old", 30, /*draining=*/true).ok());

  // Opening it again finds every column there.
  store->reset();
  absl::StatusOr<std::unique_ptr<SqliteStore>> again = SqliteStore::Open(path);
  ASSERT_TRUE(again.ok()) << again.status();
  listed = (*again)->ListAgents("cpu");
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_TRUE(listed->front().draining);
}

}  // namespace
}  // namespace runyard::server
