#include "server/sqlite_schema.h"

#include <string_view>

#include "absl/strings/str_cat.h"
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

}  // namespace

absl::Status MigrateSchema(Database& db) {
  if (absl::Status s = db.Exec(kSchema); !s.ok()) return s;
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

}  // namespace runyard::server
