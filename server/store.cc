#include "server/store.h"

#include "absl/strings/str_cat.h"
#include "common/clock.h"

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

constexpr std::string_view kRunColumns =
    "run_id, experiment, target, spec, status, has_exit_code, exit_code, error_code, "
    "error_message, error_details, agent_id, created_ms, usage";

runyard::v1::Run RunFromRow(const Statement& row) {
  runyard::v1::Run run;
  run.set_run_id(row.Text(0));
  run.set_experiment(row.Text(1));
  run.set_target(row.Text(2));
  run.mutable_spec()->ParseFromString(row.Text(3));
  run.set_status(static_cast<runyard::v1::RunStatus>(row.Int(4)));
  run.set_has_exit_code(row.Int(5) != 0);
  run.set_exit_code(static_cast<int32_t>(row.Int(6)));
  run.mutable_error()->set_code(row.Text(7));
  run.mutable_error()->set_message(row.Text(8));
  run.mutable_error()->set_details(row.Text(9));
  run.set_agent_id(row.Text(10));
  run.set_created_unix_ms(row.Int(11));
  run.mutable_usage()->ParseFromString(row.Text(12));
  return run;
}

absl::Status RunNotFound(const std::string& run_id) {
  return absl::NotFoundError(absl::StrCat("run '", run_id, "' not found"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(path);
  if (!db.ok()) return db.status();
  auto store = std::unique_ptr<Store>(new Store(std::move(*db)));
  if (absl::Status migrated = store->Migrate(); !migrated.ok()) return migrated;
  return store;
}

absl::Status Store::Migrate() {
  if (absl::Status s = db_->Exec(kSchema); !s.ok()) return s;
  // Columns added after the first release: added to new and old databases alike.
  struct Column {
    const char* table;
    const char* name;
    const char* definition;
  };
  constexpr Column kAddedColumns[] = {
      {"runs", "usage", "BLOB NOT NULL DEFAULT x''"},
      {"agents", "version", "TEXT NOT NULL DEFAULT ''"},
      {"agents", "capabilities", "BLOB NOT NULL DEFAULT x''"},  // a serialized Capabilities
      {"agents", "draining", "INTEGER NOT NULL DEFAULT 0"},
  };
  bool complete = true;
  for (const Column& column : kAddedColumns) complete = complete && HasColumn(column.table, column.name);
  if (complete) return absl::OkStatus();
  // Under the write lock, looking again: several processes may open an old database at once.
  if (absl::Status s = db_->Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  absl::Status result;
  for (const Column& column : kAddedColumns) {
    if (HasColumn(column.table, column.name)) continue;
    result = db_->Exec(absl::StrCat("ALTER TABLE ", column.table, " ADD COLUMN ", column.name, " ",
                                    column.definition));
    if (!result.ok()) break;
  }
  db_->Exec(result.ok() ? "COMMIT" : "ROLLBACK").IgnoreError();
  return result;
}

bool Store::HasColumn(std::string_view table, std::string_view column) {
  auto existing = db_->Prepare("SELECT 1 FROM pragma_table_info(?) WHERE name = ?");
  existing.Bind(1, table).Bind(2, column);
  return existing.Step();
}

absl::Status Store::InsertRun(const runyard::v1::Run& run) {
  std::lock_guard lock(mutex_);
  if (absl::Status s = db_->Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  absl::Status result = [&]() -> absl::Status {
    auto experiment = db_->Prepare(
        "INSERT OR IGNORE INTO experiments(name, created_ms) VALUES(?, ?)");
    experiment.Bind(1, run.experiment()).Bind(2, run.created_unix_ms());
    if (absl::Status s = experiment.Run(); !s.ok()) return s;
    auto insert = db_->Prepare(
        "INSERT INTO runs(run_id, experiment, target, spec, status, created_ms) "
        "VALUES(?, ?, ?, ?, ?, ?)");
    insert.Bind(1, run.run_id()).Bind(2, run.experiment()).Bind(3, run.target())
        .BindBlob(4, run.spec().SerializeAsString()).Bind(5, static_cast<int64_t>(run.status()))
        .Bind(6, run.created_unix_ms());
    if (absl::Status s = insert.Run(); !s.ok()) return s;
    for (const auto& event : run.history()) {
      auto history = db_->Prepare("INSERT INTO status_history(run_id, status, time_ms) VALUES(?, ?, ?)");
      history.Bind(1, run.run_id()).Bind(2, static_cast<int64_t>(event.status())).Bind(3, event.time_unix_ms());
      if (absl::Status s = history.Run(); !s.ok()) return s;
    }
    return absl::OkStatus();
  }();
  db_->Exec(result.ok() ? "COMMIT" : "ROLLBACK").IgnoreError();
  return result;
}

absl::Status Store::LoadHistory(runyard::v1::Run* run) {
  auto history = db_->Prepare(
      "SELECT status, time_ms FROM status_history WHERE run_id = ? ORDER BY rowid");
  history.Bind(1, run->run_id());
  while (history.Step()) {
    auto* event = run->add_history();
    event->set_status(static_cast<runyard::v1::RunStatus>(history.Int(0)));
    event->set_time_unix_ms(history.Int(1));
  }
  return history.status();
}

absl::StatusOr<runyard::v1::Run> Store::GetRun(const std::string& run_id) {
  std::lock_guard lock(mutex_);
  auto select = db_->Prepare(absl::StrCat("SELECT ", std::string(kRunColumns), " FROM runs WHERE run_id = ?"));
  select.Bind(1, run_id);
  if (!select.Step()) return select.status().ok() ? RunNotFound(run_id) : select.status();
  runyard::v1::Run run = RunFromRow(select);
  if (absl::Status s = LoadHistory(&run); !s.ok()) return s;
  return run;
}

bool Store::RunExists(const std::string& run_id) {
  std::lock_guard lock(mutex_);
  auto select = db_->Prepare("SELECT 1 FROM runs WHERE run_id = ?");
  select.Bind(1, run_id);
  return select.Step();
}

absl::StatusOr<std::vector<runyard::v1::Run>> Store::ListRuns(const std::string& experiment, int limit) {
  std::lock_guard lock(mutex_);
  auto select = db_->Prepare(absl::StrCat(
      "SELECT ", std::string(kRunColumns), " FROM runs WHERE (?1 = '' OR experiment = ?1) "
      "ORDER BY created_ms DESC, rowid DESC LIMIT ?2"));
  select.Bind(1, experiment).Bind(2, static_cast<int64_t>(limit > 0 ? limit : 50));
  std::vector<runyard::v1::Run> runs;
  while (select.Step()) runs.push_back(RunFromRow(select));
  if (!select.status().ok()) return select.status();
  for (auto& run : runs) {
    if (absl::Status s = LoadHistory(&run); !s.ok()) return s;
  }
  return runs;
}

absl::Status Store::AppendStatus(const std::string& run_id, runyard::v1::RunStatus status,
                                 int64_t time_ms) {
  std::lock_guard lock(mutex_);
  if (absl::Status s = db_->Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  auto update = db_->Prepare("UPDATE runs SET status = ? WHERE run_id = ?");
  update.Bind(1, static_cast<int64_t>(status)).Bind(2, run_id);
  auto history = db_->Prepare("INSERT INTO status_history(run_id, status, time_ms) VALUES(?, ?, ?)");
  history.Bind(1, run_id).Bind(2, static_cast<int64_t>(status)).Bind(3, time_ms);
  absl::Status result = update.Run();
  if (result.ok()) result = history.Run();
  db_->Exec(result.ok() ? "COMMIT" : "ROLLBACK").IgnoreError();
  return result;
}

absl::Status Store::SetOutcome(const std::string& run_id, bool has_exit_code, int exit_code,
                               const runyard::v1::RunError& error) {
  std::lock_guard lock(mutex_);
  auto update = db_->Prepare(
      "UPDATE runs SET has_exit_code = ?, exit_code = ?, error_code = ?, error_message = ?, "
      "error_details = ? WHERE run_id = ?");
  update.Bind(1, has_exit_code ? 1 : 0).Bind(2, static_cast<int64_t>(exit_code))
      .Bind(3, error.code()).Bind(4, error.message()).Bind(5, error.details()).Bind(6, run_id);
  return update.Run();
}

absl::Status Store::SetUsage(const std::string& run_id, const runyard::v1::RunUsage& usage) {
  std::lock_guard lock(mutex_);
  auto update = db_->Prepare("UPDATE runs SET usage = ? WHERE run_id = ?");
  update.BindBlob(1, usage.SerializeAsString()).Bind(2, run_id);
  return update.Run();
}

absl::Status Store::SetLease(const LeaseRecord& lease) {
  std::lock_guard lock(mutex_);
  auto update = db_->Prepare(
      "UPDATE runs SET agent_id = ?, lease_id = ?, fencing_token = ?, lease_expiry_ms = ? "
      "WHERE run_id = ?");
  update.Bind(1, lease.agent_id).Bind(2, lease.lease_id).Bind(3, lease.fencing_token)
      .Bind(4, lease.expiry_ms).Bind(5, lease.run_id);
  return update.Run();
}

absl::StatusOr<LeaseRecord> Store::GetLease(const std::string& run_id) {
  std::lock_guard lock(mutex_);
  auto select = db_->Prepare(
      "SELECT run_id, agent_id, lease_id, fencing_token, lease_expiry_ms, status FROM runs "
      "WHERE run_id = ?");
  select.Bind(1, run_id);
  if (!select.Step()) return select.status().ok() ? RunNotFound(run_id) : select.status();
  return LeaseRecord{select.Text(0), select.Text(1), select.Text(2), select.Int(3), select.Int(4),
                     static_cast<runyard::v1::RunStatus>(select.Int(5))};
}

absl::Status Store::RenewLease(const std::string& run_id, int64_t expiry_ms) {
  std::lock_guard lock(mutex_);
  auto update = db_->Prepare("UPDATE runs SET lease_expiry_ms = ? WHERE run_id = ?");
  update.Bind(1, expiry_ms).Bind(2, run_id);
  return update.Run();
}

absl::StatusOr<std::vector<std::string>> Store::QueuedRuns(const std::string& pool, int limit) {
  std::lock_guard lock(mutex_);
  auto select = db_->Prepare(
      "SELECT run_id FROM runs WHERE target = ? AND status = ? AND lease_id = '' "
      "ORDER BY created_ms, rowid LIMIT ?");
  select.Bind(1, pool).Bind(2, static_cast<int64_t>(runyard::v1::QUEUED)).Bind(3, static_cast<int64_t>(limit));
  std::vector<std::string> ids;
  while (select.Step()) ids.push_back(select.Text(0));
  if (!select.status().ok()) return select.status();
  return ids;
}

absl::StatusOr<std::vector<RunCount>> Store::CountRuns() {
  std::lock_guard lock(mutex_);
  auto select = db_->Prepare("SELECT target, status, COUNT(*) FROM runs GROUP BY target, status ORDER BY target, status");
  std::vector<RunCount> counts;
  while (select.Step()) {
    counts.push_back(RunCount{select.Text(0), static_cast<runyard::v1::RunStatus>(select.Int(1)), select.Int(2)});
  }
  if (!select.status().ok()) return select.status();
  return counts;
}

absl::StatusOr<std::vector<LeaseRecord>> Store::ActiveLeases() {
  std::lock_guard lock(mutex_);
  auto select = db_->Prepare(
      "SELECT run_id, agent_id, lease_id, fencing_token, lease_expiry_ms, status FROM runs "
      "WHERE lease_id != '' AND status NOT IN (?, ?, ?)");
  select.Bind(1, static_cast<int64_t>(runyard::v1::COMPLETED))
      .Bind(2, static_cast<int64_t>(runyard::v1::FAILED))
      .Bind(3, static_cast<int64_t>(runyard::v1::CANCELED));
  std::vector<LeaseRecord> leases;
  while (select.Step()) {
    leases.push_back(LeaseRecord{select.Text(0), select.Text(1), select.Text(2), select.Int(3),
                                 select.Int(4), static_cast<runyard::v1::RunStatus>(select.Int(5))});
  }
  if (!select.status().ok()) return select.status();
  return leases;
}

absl::Status Store::UpsertAgent(const AgentRecord& agent) {
  std::lock_guard lock(mutex_);
  auto upsert = db_->Prepare(
      "INSERT INTO agents(agent_id, name, pool, slots, hostname, version, capabilities, registered_ms, "
      "last_seen_ms, draining) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, 0) ON CONFLICT(agent_id) DO UPDATE SET "
      "name = ?2, pool = ?3, slots = ?4, hostname = ?5, version = ?6, capabilities = ?7, last_seen_ms = ?8, "
      "draining = 0");
  upsert.Bind(1, agent.agent_id).Bind(2, agent.name).Bind(3, agent.pool)
      .Bind(4, static_cast<int64_t>(agent.slots)).Bind(5, agent.hostname).Bind(6, agent.version)
      .BindBlob(7, agent.capabilities.SerializeAsString()).Bind(8, agent.registered_ms);
  return upsert.Run();
}

absl::StatusOr<std::string> Store::AgentPool(const std::string& agent_id) {
  std::lock_guard lock(mutex_);
  auto select = db_->Prepare("SELECT pool FROM agents WHERE agent_id = ?");
  select.Bind(1, agent_id);
  if (!select.Step()) {
    if (!select.status().ok()) return select.status();
    return absl::NotFoundError(absl::StrCat("agent '", agent_id, "' is not registered"));
  }
  return select.Text(0);
}

absl::Status Store::TouchAgent(const std::string& agent_id, int64_t now_ms, bool draining) {
  std::lock_guard lock(mutex_);
  auto update = db_->Prepare("UPDATE agents SET last_seen_ms = ?, draining = ? WHERE agent_id = ?");
  update.Bind(1, now_ms).Bind(2, draining ? 1 : 0).Bind(3, agent_id);
  return update.Run();
}

absl::StatusOr<std::vector<AgentRecord>> Store::ListAgents(const std::string& pool) {
  std::lock_guard lock(mutex_);
  auto select = db_->Prepare(
      "SELECT agent_id, name, pool, slots, hostname, version, capabilities, registered_ms, last_seen_ms, "
      "draining FROM agents WHERE (?1 = '' OR pool = ?1) ORDER BY pool, name, registered_ms, agent_id");
  select.Bind(1, pool);
  std::vector<AgentRecord> agents;
  while (select.Step()) {
    AgentRecord agent;
    agent.agent_id = select.Text(0);
    agent.name = select.Text(1);
    agent.pool = select.Text(2);
    agent.slots = static_cast<int>(select.Int(3));
    agent.hostname = select.Text(4);
    agent.version = select.Text(5);
    agent.capabilities.ParseFromString(select.Text(6));
    agent.registered_ms = select.Int(7);
    agent.last_seen_ms = select.Int(8);
    agent.draining = select.Int(9) != 0;
    agents.push_back(std::move(agent));
  }
  if (!select.status().ok()) return select.status();
  return agents;
}

absl::Status Store::SetFileSize(const std::string& run_id, const std::string& path, int64_t size,
                                int64_t now_ms) {
  std::lock_guard lock(mutex_);
  auto upsert = db_->Prepare(
      "INSERT INTO files(run_id, path, size, updated_ms) VALUES(?1, ?2, ?3, ?4) "
      "ON CONFLICT(run_id, path) DO UPDATE SET size = ?3, updated_ms = ?4");
  upsert.Bind(1, run_id).Bind(2, path).Bind(3, size).Bind(4, now_ms);
  return upsert.Run();
}

absl::StatusOr<std::vector<runyard::v1::FileInfo>> Store::ListFiles(const std::string& run_id) {
  std::lock_guard lock(mutex_);
  auto select = db_->Prepare("SELECT path, size FROM files WHERE run_id = ? ORDER BY path");
  select.Bind(1, run_id);
  std::vector<runyard::v1::FileInfo> files;
  while (select.Step()) {
    runyard::v1::FileInfo info;
    info.set_path(select.Text(0));
    info.set_size(select.Int(1));
    files.push_back(info);
  }
  if (!select.status().ok()) return select.status();
  return files;
}

}  // namespace runyard::server
