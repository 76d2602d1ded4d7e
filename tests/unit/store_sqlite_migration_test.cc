// Tests for server/sqlite_schema.h: a database made by an older release gets the columns and
// tables added since, keeping its rows, and opening it again finds them there.

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runyard/v1/spec.pb.h"
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

// The runs, experiments and history tables as the release before issue 15 made them (no
// parent, tags, properties, metrics or archived experiments), with one finished run.
constexpr char kBeforeRunApi[] = R"sql(
CREATE TABLE experiments(name TEXT PRIMARY KEY, created_ms INTEGER NOT NULL);
CREATE TABLE runs(
  run_id TEXT PRIMARY KEY, experiment TEXT NOT NULL, target TEXT NOT NULL, spec BLOB NOT NULL,
  status INTEGER NOT NULL, has_exit_code INTEGER NOT NULL DEFAULT 0,
  exit_code INTEGER NOT NULL DEFAULT 0, error_code TEXT NOT NULL DEFAULT '',
  error_message TEXT NOT NULL DEFAULT '', error_details TEXT NOT NULL DEFAULT '',
  agent_id TEXT NOT NULL DEFAULT '', lease_id TEXT NOT NULL DEFAULT '',
  fencing_token INTEGER NOT NULL DEFAULT 0, lease_expiry_ms INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL, usage BLOB NOT NULL DEFAULT x'');
CREATE INDEX runs_by_queue ON runs(target, status, created_ms);
CREATE TABLE status_history(run_id TEXT NOT NULL, status INTEGER NOT NULL,
                            time_ms INTEGER NOT NULL);
CREATE INDEX history_by_run ON status_history(run_id);
INSERT INTO experiments VALUES('mnist', 100);
INSERT INTO runs(run_id, experiment, target, spec, status, created_ms)
  VALUES('run_old', 'mnist', 'local', x'', 4, 100);
INSERT INTO status_history VALUES('run_old', 4, 150);
)sql";

TEST(StoreSqliteMigrationTest, DatabaseFromBeforeTheRunApiOpensAndTakesItsHistory) {
  testutil::ScopedTempDir tmp;
  const std::string path = (tmp.path() / "runyard.db").string();
  {
    absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(path);
    ASSERT_TRUE(db.ok()) << db.status();
    absl::Status made = (*db)->Exec(kBeforeRunApi);
    ASSERT_TRUE(made.ok()) << made;
  }
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<runyard::v1::Run> old = (*store)->GetRun("run_old");
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->experiment(), "mnist");
  EXPECT_EQ(old->parent_run_id(), "");
  EXPECT_TRUE(old->tags().empty());
  ASSERT_EQ(old->history_size(), 1);

  // The new tables and columns take writes for the old run.
  ASSERT_TRUE((*store)->SetTags("run_old", {{"k", "v"}}, {}).ok());
  ASSERT_TRUE((*store)->AddProperties("run_old", {{"p", "1"}}).ok());
  runyard::v1::MetricValue value;
  value.set_number(0.5);
  value.set_kind("scalar");
  ASSERT_TRUE((*store)->AppendMetrics({MetricAppend{"run_old", "loss", "", {value}}}).ok());
  ASSERT_TRUE((*store)->SetRecordsIngested("run_old", 12).ok());
  runyard::v1::Run child;
  child.set_run_id("run_old_1");
  child.set_experiment("mnist");
  child.set_target("local");
  child.set_created_unix_ms(200);
  child.set_parent_run_id("run_old");
  ASSERT_TRUE((*store)->InsertRun(child).ok());
  ASSERT_TRUE((*store)->SetExperimentArchived("mnist", true).ok());

  // Opening it again finds all of it.
  store->reset();
  absl::StatusOr<std::unique_ptr<SqliteStore>> again = SqliteStore::Open(path);
  ASSERT_TRUE(again.ok()) << again.status();
  RunFilter filter;
  filter.tags = {{"k", "v"}};
  filter.include_archived = true;
  absl::StatusOr<std::vector<runyard::v1::Run>> tagged = (*again)->ListRuns(filter);
  ASSERT_TRUE(tagged.ok()) << tagged.status();
  ASSERT_EQ(tagged->size(), 1u);
  EXPECT_EQ(tagged->front().properties().at("p"), "1");
  absl::StatusOr<std::vector<std::string>> children = (*again)->ChildRuns("run_old");
  ASSERT_TRUE(children.ok()) << children.status();
  EXPECT_THAT(*children, ::testing::ElementsAre("run_old_1"));
  absl::StatusOr<int64_t> count = (*again)->CountMetricValues("run_old");
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, 1);
  absl::StatusOr<int64_t> ingested = (*again)->RecordsIngested("run_old");
  ASSERT_TRUE(ingested.ok()) << ingested.status();
  EXPECT_EQ(*ingested, 12);
  absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>> experiments =
      (*again)->ListExperiments(/*include_archived=*/true);
  ASSERT_TRUE(experiments.ok()) << experiments.status();
  ASSERT_EQ(experiments->size(), 1u);
  EXPECT_TRUE(experiments->front().archived());
  EXPECT_EQ(experiments->front().run_count(), 2);
}

// A run submitted before run_tags existed kept its tags only in its spec: the first open of
// the old database copies them, so filters and GetRun find them like a new run's.
TEST(StoreSqliteMigrationTest, TagsAndPropertiesOfOldRunsAreCopiedFromTheirSpecs) {
  testutil::ScopedTempDir tmp;
  const std::string path = (tmp.path() / "runyard.db").string();
  {
    absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(path);
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE((*db)->Exec(kBeforeRunApi).ok());
    runyard::v1::RunSpec spec;
    (*spec.mutable_tags())["team"] = "vision";
    (*spec.mutable_properties())["dataset"] = "v2";
    Statement insert = (*db)->Prepare(
        "INSERT INTO runs(run_id, experiment, target, spec, status, created_ms) "
        "VALUES('run_tagged', 'mnist', 'local', ?, 4, 120)");
    insert.BindBlob(1, spec.SerializeAsString());
    ASSERT_TRUE(insert.Run().ok());
  }
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  RunFilter filter;
  filter.tags = {{"team", "vision"}};
  filter.include_archived = true;
  absl::StatusOr<std::vector<runyard::v1::Run>> tagged = (*store)->ListRuns(filter);
  ASSERT_TRUE(tagged.ok()) << tagged.status();
  ASSERT_EQ(tagged->size(), 1u);
  EXPECT_EQ(tagged->front().run_id(), "run_tagged");
  EXPECT_EQ(tagged->front().properties().at("dataset"), "v2");

  // A tag changed after the copy stays changed when the database is opened again.
  ASSERT_TRUE((*store)->SetTags("run_tagged", {{"team", "audio"}}, {}).ok());
  store->reset();
  absl::StatusOr<std::unique_ptr<SqliteStore>> again = SqliteStore::Open(path);
  ASSERT_TRUE(again.ok()) << again.status();
  absl::StatusOr<runyard::v1::Run> run = (*again)->GetRun("run_tagged");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->tags().at("team"), "audio");
}

// metric_values as issue 15 made it (no rank), with one value of an old run.
constexpr char kMetricsBeforeRanks[] = R"sql(
CREATE TABLE metric_series(
  series_id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
  description TEXT NOT NULL, count INTEGER NOT NULL, min REAL, max REAL, UNIQUE(run_id, name));
CREATE TABLE metric_values(
  series_id INTEGER NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, step INTEGER,
  number REAL, text TEXT, json TEXT, wall_time REAL NOT NULL,
  PRIMARY KEY(series_id, seq)) WITHOUT ROWID;
INSERT INTO metric_series VALUES(1, 'run_old', 'loss', 'scalar', '', 1, 0.5, 0.5);
INSERT INTO metric_values VALUES(1, 0, 'scalar', NULL, 0.5, NULL, NULL, 1.5);
)sql";

// Issue 16: a database whose metric values have no rank gets the column; its old values
// read back without one, and new values keep theirs.
TEST(StoreSqliteMigrationTest, OldMetricValuesGainTheRankColumn) {
  testutil::ScopedTempDir tmp;
  const std::string path = (tmp.path() / "runyard.db").string();
  {
    absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(path);
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE((*db)->Exec(kBeforeRunApi).ok());
    absl::Status made = (*db)->Exec(kMetricsBeforeRanks);
    ASSERT_TRUE(made.ok()) << made;
  }
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  runyard::v1::MetricValue ranked;
  ranked.set_number(0.25);
  ranked.set_kind("scalar");
  ranked.set_rank(2);
  ASSERT_TRUE((*store)->AppendMetrics({MetricAppend{"run_old", "loss", "", {ranked}}}).ok());

  store->reset();
  absl::StatusOr<std::unique_ptr<SqliteStore>> again = SqliteStore::Open(path);
  ASSERT_TRUE(again.ok()) << again.status();
  absl::StatusOr<std::vector<runyard::v1::MetricValue>> values =
      (*again)->MetricValues("run_old", "loss", 0, 10);
  ASSERT_TRUE(values.ok()) << values.status();
  ASSERT_EQ(values->size(), 2u);
  EXPECT_DOUBLE_EQ((*values)[0].number(), 0.5);
  EXPECT_FALSE((*values)[0].has_rank());
  EXPECT_DOUBLE_EQ((*values)[1].number(), 0.25);
  ASSERT_TRUE((*values)[1].has_rank());
  EXPECT_EQ((*values)[1].rank(), 2);
  {
    absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(path);
    ASSERT_TRUE(db.ok()) << db.status();
    Statement column =
        (*db)->Prepare("SELECT 1 FROM pragma_table_info('metric_values') WHERE name = 'rank'");
    EXPECT_TRUE(column.Step());
  }
}

}  // namespace
}  // namespace runyard::server
