#include "server/sqlite_schema.h"

#include <string_view>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "runyard/v1/spec.pb.h"
#include "server/sqlite_run_entries.h"
#include "server/sqlite_transaction.h"

namespace runyard::server {
namespace {

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS experiments(
  name TEXT PRIMARY KEY,
  created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs(
  run_id TEXT PRIMARY KEY,
  experiment TEXT NOT NULL,
  target TEXT NOT NULL,
  spec BLOB NOT NULL,
  status INTEGER NOT NULL,
  has_exit_code INTEGER NOT NULL DEFAULT 0,
  exit_code INTEGER NOT NULL DEFAULT 0,
  error_code TEXT NOT NULL DEFAULT '',
  error_message TEXT NOT NULL DEFAULT '',
  error_details TEXT NOT NULL DEFAULT '',
  agent_id TEXT NOT NULL DEFAULT '',
  lease_id TEXT NOT NULL DEFAULT '',
  fencing_token INTEGER NOT NULL DEFAULT 0,
  lease_expiry_ms INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS runs_by_queue ON runs(target, status, created_ms);
CREATE TABLE IF NOT EXISTS status_history(
  run_id TEXT NOT NULL,
  status INTEGER NOT NULL,
  time_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS history_by_run ON status_history(run_id);
CREATE TABLE IF NOT EXISTS agents(
  agent_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  pool TEXT NOT NULL,
  slots INTEGER NOT NULL,
  hostname TEXT NOT NULL,
  registered_ms INTEGER NOT NULL,
  last_seen_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS files(
  run_id TEXT NOT NULL,
  path TEXT NOT NULL,
  size INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY(run_id, path));
CREATE INDEX IF NOT EXISTS runs_by_created ON runs(created_ms);
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs(experiment, created_ms);
CREATE TABLE IF NOT EXISTS run_tags(
  run_id TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY(run_id, key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS run_tags_by_key ON run_tags(key, value);
CREATE TABLE IF NOT EXISTS run_properties(
  run_id TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY(run_id, key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS run_properties_by_key ON run_properties(key, value);
-- One row per series, kept up to date by every append, so that a summary (and the next seq)
-- never scans values. series_id keeps metric_values' keys short: a run may log millions.
CREATE TABLE IF NOT EXISTS metric_series(
  series_id INTEGER PRIMARY KEY,
  run_id TEXT NOT NULL,
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  description TEXT NOT NULL,
  count INTEGER NOT NULL,
  min REAL,
  max REAL,
  UNIQUE(run_id, name));
CREATE TABLE IF NOT EXISTS metric_values(
  series_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  step INTEGER,
  number REAL,
  text TEXT,
  json TEXT,
  wall_time REAL NOT NULL,
  PRIMARY KEY(series_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS run_api_state(
  run_id TEXT PRIMARY KEY,
  records_ingested INTEGER NOT NULL DEFAULT 0,
  requested_status INTEGER NOT NULL DEFAULT 0,
  requested_error BLOB NOT NULL DEFAULT x'') WITHOUT ROWID;
-- Issue 16: the nodes of a distributed run's current attempt, each under a lease of its own.
-- `node` is a serialized RunNode (agent, host, address, ranks, error); status is the node's.
CREATE TABLE IF NOT EXISTS run_nodes(
  run_id TEXT NOT NULL,
  node_rank INTEGER NOT NULL,
  agent_id TEXT NOT NULL,
  lease_id TEXT NOT NULL,
  fencing_token INTEGER NOT NULL,
  lease_expiry_ms INTEGER NOT NULL,
  status INTEGER NOT NULL,
  node BLOB NOT NULL,
  assigned_ms INTEGER NOT NULL DEFAULT 0,
  ended_ms INTEGER NOT NULL DEFAULT 0,
  has_exit_code INTEGER NOT NULL DEFAULT 0,
  exit_code INTEGER NOT NULL DEFAULT 0,
  usage BLOB NOT NULL DEFAULT x'',
  base_port INTEGER NOT NULL DEFAULT 0,
  port_count INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(run_id, node_rank)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS run_nodes_by_lease ON run_nodes(lease_id);
-- How far the record channel of node k > 0 of a distributed run was read (node 0's: above).
CREATE TABLE IF NOT EXISTS run_node_records(
  run_id TEXT NOT NULL,
  node_rank INTEGER NOT NULL,
  records_ingested INTEGER NOT NULL,
  PRIMARY KEY(run_id, node_rank)) WITHOUT ROWID;
-- Issue 17: access tokens, only the SHA-256 of their secrets. Run tokens (one per hand-out)
-- are listed and purged by kind and expiry.
CREATE TABLE IF NOT EXISTS tokens(
  token_id TEXT PRIMARY KEY,
  kind INTEGER NOT NULL,
  role INTEGER NOT NULL,
  name TEXT NOT NULL,
  pool TEXT NOT NULL,
  agent_name TEXT NOT NULL,
  run_id TEXT NOT NULL,
  secret_sha256 TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0,
  created_by TEXT NOT NULL,
  last_used_ms INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tokens_by_kind ON tokens(kind, expires_ms);
-- Who did what: submits, cancels, registrations, token changes, refusals.
CREATE TABLE IF NOT EXISTS audit(
  time_ms INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_by_target ON audit(target, time_ms);
-- The values of runs' secret variables: never in runs.spec, which shows them masked.
CREATE TABLE IF NOT EXISTS run_secrets(
  run_id TEXT NOT NULL,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY(run_id, name)) WITHOUT ROWID;
)sql";

// Indexes on added columns: made once the columns exist.
constexpr std::string_view kIndexesOfAddedColumns = R"sql(
CREATE INDEX IF NOT EXISTS runs_by_parent ON runs(parent_run_id, created_ms);
)sql";

// Columns added after the first release: added to new and old databases alike.
struct AddedColumn {
  const char* table;
  const char* name;
  const char* definition;
};
constexpr AddedColumn kAddedColumns[] = {
    {"runs", "usage", "BLOB NOT NULL DEFAULT x''"},
    {"agents", "version", "TEXT NOT NULL DEFAULT ''"},
    {"agents", "capabilities", "BLOB NOT NULL DEFAULT x''"},  // a serialized Capabilities
    {"agents", "draining", "INTEGER NOT NULL DEFAULT 0"},
    {"runs", "parent_run_id", "TEXT NOT NULL DEFAULT ''"},  // issue 15: child runs
    {"experiments", "archived", "INTEGER NOT NULL DEFAULT 0"},
    {"agents", "address", "TEXT NOT NULL DEFAULT ''"},        // issue 16: how other nodes reach it
    {"runs", "attempt", "INTEGER NOT NULL DEFAULT 0"},        // a distributed run's hand-outs
    {"runs", "not_before_ms", "INTEGER NOT NULL DEFAULT 0"},  // its retry backoff
    {"metric_values", "rank", "INTEGER"},  // the rank that logged it; NULL: one process
    {"runs", "submitted_by", "TEXT NOT NULL DEFAULT ''"},  // issue 17: an actor (identity.h)
    {"runs", "canceled_by", "TEXT NOT NULL DEFAULT ''"},
    {"agents", "token_id", "TEXT NOT NULL DEFAULT ''"},  // the agent token it registered with
    {"agents", "identity", "TEXT NOT NULL DEFAULT ''"},
};

absl::StatusOr<bool> HasColumn(Database& db, std::string_view table, std::string_view column) {
  Statement existing = db.Prepare("SELECT 1 FROM pragma_table_info(?) WHERE name = ?");
  existing.Bind(1, table).Bind(2, column);
  const bool found = existing.Step();
  if (!existing.status().ok()) return existing.status();
  return found;
}

absl::StatusOr<bool> HasEveryColumn(Database& db) {
  for (const AddedColumn& column : kAddedColumns) {
    absl::StatusOr<bool> found = HasColumn(db, column.table, column.name);
    if (!found.ok() || !*found) return found;
  }
  return true;
}

absl::Status AddMissingColumns(Database& db) {
  absl::StatusOr<bool> complete = HasEveryColumn(db);
  if (!complete.ok() || *complete) return complete.status();
  // Under the write lock, looking again: several processes may open an old database at once.
  return InWriteTransaction(db, [&]() -> absl::Status {
    for (const AddedColumn& column : kAddedColumns) {
      absl::StatusOr<bool> found = HasColumn(db, column.table, column.name);
      if (!found.ok()) return found.status();
      if (*found) continue;
      if (absl::Status s = db.Exec(absl::StrCat("ALTER TABLE ", column.table, " ADD COLUMN ",
                                                column.name, " ", column.definition));
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<bool> HasTable(Database& db, std::string_view table) {
  Statement existing = db.Prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
  existing.Bind(1, table);
  const bool found = existing.Step();
  if (!existing.status().ok()) return existing.status();
  return found;
}

// Before run_tags existed (issue 15) a run's tags and properties lived only in its spec:
// `runyard list --tag` must find the old runs too, so their entries are copied once, when the
// tables are made for an old database.
absl::Status CopyEntriesFromSpecs(Database& db) {
  Statement runs = db.Prepare("SELECT run_id, spec FROM runs");
  while (runs.Step()) {
    runyard::v1::RunSpec spec;
    if (!spec.ParseFromString(runs.Text(1))) continue;  // unreadable: GetRun says so later
    const std::string run_id = runs.Text(0);
    RETURN_IF_ERROR(UpsertRunEntries(db, "run_tags", run_id, spec.tags()));
    RETURN_IF_ERROR(UpsertRunEntries(db, "run_properties", run_id, spec.properties()));
  }
  return runs.status();
}

absl::Status CreateTables(Database& db) {
  absl::StatusOr<bool> has_tags = HasTable(db, "run_tags");
  if (!has_tags.ok() || *has_tags) return has_tags.ok() ? db.Exec(kSchema) : has_tags.status();
  // Under the write lock, looking again: several processes may open an old database at once.
  return InWriteTransaction(db, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(const bool made_meanwhile, HasTable(db, "run_tags"));
    ASSIGN_OR_RETURN(const bool old_database, HasTable(db, "runs"));
    RETURN_IF_ERROR(db.Exec(kSchema));
    if (made_meanwhile || !old_database) return absl::OkStatus();
    return CopyEntriesFromSpecs(db);
  });
}

}  // namespace

absl::Status MigrateSchema(Database& db) {
  if (absl::Status s = CreateTables(db); !s.ok()) return s;
  if (absl::Status s = AddMissingColumns(db); !s.ok()) return s;
  return db.Exec(kIndexesOfAddedColumns);
}

}  // namespace runyard::server
