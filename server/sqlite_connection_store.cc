#include "server/sqlite_connection_store.h"

#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/sqlite_run_entries.h"
#include "server/sqlite_transaction.h"

namespace runyard::server {
namespace {

constexpr char kRunColumns[] =
    "run_id, experiment, target, spec, status, has_exit_code, exit_code, error_code, "
    "error_message, error_details, agent_id, created_ms, usage, parent_run_id, attempt, "
    "submitted_by, canceled_by";

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
  run.set_parent_run_id(row.Text(13));
  run.set_attempt(static_cast<int32_t>(row.Int(14)));
  run.set_submitted_by(row.Text(15));
  run.set_canceled_by(row.Text(16));
  return run;
}

LeaseRecord LeaseFromRow(const Statement& row) {
  return LeaseRecord{row.Text(0), row.Text(1), row.Text(2),
                     row.Int(3),  row.Int(4),  static_cast<runyard::v1::RunStatus>(row.Int(5))};
}

constexpr char kAgentColumns[] =
    "agent_id, name, pool, slots, hostname, version, capabilities, registered_ms, "
    "last_seen_ms, draining, address, token_id, identity";

AgentRecord AgentFromRow(const Statement& row) {
  AgentRecord agent;
  agent.agent_id = row.Text(0);
  agent.name = row.Text(1);
  agent.pool = row.Text(2);
  agent.slots = static_cast<int>(row.Int(3));
  agent.hostname = row.Text(4);
  agent.version = row.Text(5);
  agent.capabilities.ParseFromString(row.Text(6));
  agent.registered_ms = row.Int(7);
  agent.last_seen_ms = row.Int(8);
  agent.draining = row.Int(9) != 0;
  agent.address = row.Text(10);
  agent.token_id = row.Text(11);
  agent.identity = row.Text(12);
  return agent;
}

constexpr char kLeaseColumns[] =
    "run_id, agent_id, lease_id, fencing_token, lease_expiry_ms, status";

absl::Status RunNotFound(const std::string& run_id) {
  return absl::NotFoundError(absl::StrCat("run '", run_id, "' not found"));
}

absl::Status InsertHistory(Database& db, const std::string& run_id, runyard::v1::RunStatus status,
                           int64_t time_ms) {
  Statement history =
      db.Prepare("INSERT INTO status_history(run_id, status, time_ms) VALUES(?, ?, ?)");
  history.Bind(1, run_id).Bind(2, static_cast<int64_t>(status)).Bind(3, time_ms);
  return history.Run();
}

}  // namespace

absl::Status SqliteConnectionStore::InTransaction(
    const std::function<absl::Status(Store& txn)>& body) {
  if (db_.InTransaction()) return body(*this);
  return InWriteTransaction(db_, [&] { return body(*this); });
}

absl::Status SqliteConnectionStore::Snapshot(const std::function<absl::Status()>& body) {
  if (db_.InTransaction()) return body();
  return InReadTransaction(db_, body);
}

absl::Status SqliteConnectionStore::InsertRun(const runyard::v1::Run& run) {
  return InTransaction([&](Store&) -> absl::Status {
    Statement experiment =
        db_.Prepare("INSERT OR IGNORE INTO experiments(name, created_ms) VALUES(?, ?)");
    experiment.Bind(1, run.experiment()).Bind(2, run.created_unix_ms());
    RETURN_IF_ERROR(experiment.Run());
    Statement insert = db_.Prepare(
        "INSERT INTO runs(run_id, experiment, target, spec, status, created_ms, parent_run_id, "
        "submitted_by) VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
    insert.Bind(1, run.run_id())
        .Bind(2, run.experiment())
        .Bind(3, run.target())
        .BindBlob(4, run.spec().SerializeAsString())
        .Bind(5, static_cast<int64_t>(run.status()))
        .Bind(6, run.created_unix_ms())
        .Bind(7, run.parent_run_id())
        .Bind(8, run.submitted_by());
    RETURN_IF_ERROR(insert.Run());
    // The spec's first, then the Run's own over them.
    RETURN_IF_ERROR(UpsertRunEntries(db_, "run_tags", run.run_id(), run.spec().tags()));
    RETURN_IF_ERROR(UpsertRunEntries(db_, "run_tags", run.run_id(), run.tags()));
    RETURN_IF_ERROR(UpsertRunEntries(db_, "run_properties", run.run_id(), run.spec().properties()));
    RETURN_IF_ERROR(UpsertRunEntries(db_, "run_properties", run.run_id(), run.properties()));
    for (const auto& event : run.history()) {
      RETURN_IF_ERROR(InsertHistory(db_, run.run_id(), event.status(), event.time_unix_ms()));
    }
    return absl::OkStatus();
  });
}

absl::Status SqliteConnectionStore::LoadDetails(runyard::v1::Run* run) {
  RETURN_IF_ERROR(LoadRunEntries(db_, "run_tags", run->run_id(), run->mutable_tags()));
  RETURN_IF_ERROR(LoadRunEntries(db_, "run_properties", run->run_id(), run->mutable_properties()));
  RETURN_IF_ERROR(LoadNodes(run));
  return LoadHistory(run);
}

absl::Status SqliteConnectionStore::LoadHistory(runyard::v1::Run* run) {
  // rowid: the order the transitions were written in (two may share a millisecond).
  Statement history =
      db_.Prepare("SELECT status, time_ms FROM status_history WHERE run_id = ? ORDER BY rowid");
  history.Bind(1, run->run_id());
  while (history.Step()) {
    auto* event = run->add_history();
    event->set_status(static_cast<runyard::v1::RunStatus>(history.Int(0)));
    event->set_time_unix_ms(history.Int(1));
  }
  return history.status();
}

absl::StatusOr<runyard::v1::Run> SqliteConnectionStore::GetRun(const std::string& run_id) {
  runyard::v1::Run run;
  RETURN_IF_ERROR(Snapshot([&]() -> absl::Status {
    Statement select =
        db_.Prepare(absl::StrCat("SELECT ", kRunColumns, " FROM runs WHERE run_id = ?"));
    select.Bind(1, run_id);
    if (!select.Step()) return select.status().ok() ? RunNotFound(run_id) : select.status();
    run = RunFromRow(select);
    return LoadDetails(&run);
  }));
  return run;
}

absl::StatusOr<bool> SqliteConnectionStore::RunExists(const std::string& run_id) {
  Statement select = db_.Prepare("SELECT 1 FROM runs WHERE run_id = ?");
  select.Bind(1, run_id);
  const bool found = select.Step();
  if (!select.status().ok()) return select.status();
  return found;
}

absl::StatusOr<std::vector<runyard::v1::Run>> SqliteConnectionStore::ListRuns(
    const RunFilter& filter) {
  // Only the filters given are in the SQL, so that SQLite plans (and the connection caches)
  // each shape of query on its own; parameters are numbered in the order they are added.
  std::string sql = absl::StrCat("SELECT ", kRunColumns, " FROM runs WHERE 1");
  std::vector<std::string> texts;
  auto text_parameter = [&](const std::string& value) {
    texts.push_back(value);
    return absl::StrCat("?", texts.size());
  };
  if (!filter.experiment.empty()) {
    absl::StrAppend(&sql, " AND experiment = ", text_parameter(filter.experiment));
  } else if (!filter.include_archived) {
    absl::StrAppend(&sql, " AND experiment NOT IN (SELECT name FROM experiments WHERE archived)");
  }
  if (!filter.parent_run_id.empty()) {
    absl::StrAppend(&sql, " AND parent_run_id = ", text_parameter(filter.parent_run_id));
  } else if (filter.top_level_only) {
    absl::StrAppend(&sql, " AND parent_run_id = ''");
  }
  auto entries_filter = [&](const char* table, const std::map<std::string, std::string>& entries) {
    for (const auto& [key, value] : entries) {
      absl::StrAppend(&sql, " AND run_id IN (SELECT run_id FROM ", table,
                      " WHERE key = ", text_parameter(key));
      if (!value.empty()) absl::StrAppend(&sql, " AND value = ", text_parameter(value));
      absl::StrAppend(&sql, ")");
    }
  };
  entries_filter("run_tags", filter.tags);
  entries_filter("run_properties", filter.properties);
  // Numbered after the texts; left out of the SQL when unfiltered (SQLite allows the gap).
  const int status_index = static_cast<int>(texts.size()) + 1;
  if (filter.status != runyard::v1::RUN_STATUS_UNSPECIFIED) {
    absl::StrAppend(&sql, " AND status = ?", status_index);
  }
  // rowid breaks ties between runs submitted in the same millisecond: the later first.
  absl::StrAppend(&sql, " ORDER BY created_ms DESC, rowid DESC LIMIT ?", status_index + 1);

  std::vector<runyard::v1::Run> runs;
  RETURN_IF_ERROR(Snapshot([&]() -> absl::Status {
    Statement select = db_.Prepare(sql);
    for (size_t i = 0; i < texts.size(); ++i) select.Bind(static_cast<int>(i) + 1, texts[i]);
    select.Bind(status_index, static_cast<int64_t>(filter.status))
        .Bind(status_index + 1, static_cast<int64_t>(filter.limit > 0 ? filter.limit : 50));
    while (select.Step()) runs.push_back(RunFromRow(select));
    RETURN_IF_ERROR(select.status());
    // Only the page's runs: a listing of a few out of thousands reads a few runs' details.
    for (auto& run : runs) RETURN_IF_ERROR(LoadDetails(&run));
    return absl::OkStatus();
  }));
  return runs;
}

absl::Status SqliteConnectionStore::AppendStatus(const std::string& run_id,
                                                 runyard::v1::RunStatus status, int64_t time_ms) {
  return InTransaction([&](Store&) -> absl::Status {
    Statement update = db_.Prepare("UPDATE runs SET status = ? WHERE run_id = ?");
    update.Bind(1, static_cast<int64_t>(status)).Bind(2, run_id);
    RETURN_IF_ERROR(update.Run());
    return InsertHistory(db_, run_id, status, time_ms);
  });
}

absl::Status SqliteConnectionStore::SetOutcome(const std::string& run_id, bool has_exit_code,
                                               int exit_code, const runyard::v1::RunError& error) {
  Statement update = db_.Prepare(
      "UPDATE runs SET has_exit_code = ?, exit_code = ?, error_code = ?, error_message = ?, "
      "error_details = ? WHERE run_id = ?");
  update.Bind(1, has_exit_code ? 1 : 0)
      .Bind(2, static_cast<int64_t>(exit_code))
      .Bind(3, error.code())
      .Bind(4, error.message())
      .Bind(5, error.details())
      .Bind(6, run_id);
  return update.Run();
}

absl::Status SqliteConnectionStore::SetUsage(const std::string& run_id,
                                             const runyard::v1::RunUsage& usage) {
  Statement update = db_.Prepare("UPDATE runs SET usage = ? WHERE run_id = ?");
  update.BindBlob(1, usage.SerializeAsString()).Bind(2, run_id);
  return update.Run();
}

absl::Status SqliteConnectionStore::SetLease(const LeaseRecord& lease) {
  Statement update = db_.Prepare(
      "UPDATE runs SET agent_id = ?, lease_id = ?, fencing_token = ?, lease_expiry_ms = ? "
      "WHERE run_id = ?");
  update.Bind(1, lease.agent_id)
      .Bind(2, lease.lease_id)
      .Bind(3, lease.fencing_token)
      .Bind(4, lease.expiry_ms)
      .Bind(5, lease.run_id);
  return update.Run();
}

absl::StatusOr<LeaseRecord> SqliteConnectionStore::GetLease(const std::string& run_id) {
  Statement select =
      db_.Prepare(absl::StrCat("SELECT ", kLeaseColumns, " FROM runs WHERE run_id = ?"));
  select.Bind(1, run_id);
  if (!select.Step()) return select.status().ok() ? RunNotFound(run_id) : select.status();
  return LeaseFromRow(select);
}

absl::Status SqliteConnectionStore::RenewLease(const std::string& run_id, int64_t expiry_ms) {
  Statement update = db_.Prepare("UPDATE runs SET lease_expiry_ms = ? WHERE run_id = ?");
  update.Bind(1, expiry_ms).Bind(2, run_id);
  return update.Run();
}

absl::StatusOr<std::vector<std::string>> SqliteConnectionStore::QueuedRuns(const std::string& pool,
                                                                           int limit) {
  // rowid: submit order among runs created in the same millisecond.
  Statement select = db_.Prepare(
      "SELECT run_id FROM runs WHERE target = ? AND status = ? AND lease_id = '' "
      "ORDER BY created_ms, rowid LIMIT ?");
  select.Bind(1, pool)
      .Bind(2, static_cast<int64_t>(runyard::v1::QUEUED))
      .Bind(3, static_cast<int64_t>(limit));
  std::vector<std::string> ids;
  while (select.Step()) ids.push_back(select.Text(0));
  RETURN_IF_ERROR(select.status());
  return ids;
}

absl::StatusOr<std::vector<std::string>> SqliteConnectionStore::ReadyRuns(const std::string& pool,
                                                                          int64_t now_ms,
                                                                          int limit) {
  Statement select = db_.Prepare(
      "SELECT run_id FROM runs WHERE target = ? AND status = ? AND lease_id = '' "
      "AND not_before_ms <= ? ORDER BY created_ms, rowid LIMIT ?");
  select.Bind(1, pool)
      .Bind(2, static_cast<int64_t>(runyard::v1::QUEUED))
      .Bind(3, now_ms)
      .Bind(4, static_cast<int64_t>(limit));
  std::vector<std::string> ids;
  while (select.Step()) ids.push_back(select.Text(0));
  RETURN_IF_ERROR(select.status());
  return ids;
}

absl::Status SqliteConnectionStore::SetAttempt(const std::string& run_id, int attempt,
                                               int64_t not_before_ms) {
  Statement update = db_.Prepare("UPDATE runs SET attempt = ?, not_before_ms = ? WHERE run_id = ?");
  update.Bind(1, static_cast<int64_t>(attempt)).Bind(2, not_before_ms).Bind(3, run_id);
  return update.Run();
}

absl::StatusOr<std::vector<RunCount>> SqliteConnectionStore::CountRuns() {
  Statement select = db_.Prepare(
      "SELECT target, status, COUNT(*) FROM runs GROUP BY target, status ORDER BY target, status");
  std::vector<RunCount> counts;
  while (select.Step()) {
    counts.push_back(RunCount{select.Text(0), static_cast<runyard::v1::RunStatus>(select.Int(1)),
                              select.Int(2)});
  }
  RETURN_IF_ERROR(select.status());
  return counts;
}

absl::StatusOr<std::vector<LeaseRecord>> SqliteConnectionStore::ActiveLeases() {
  Statement select = db_.Prepare(absl::StrCat("SELECT ", kLeaseColumns,
                                              " FROM runs WHERE lease_id != '' AND status NOT IN "
                                              "(?, ?, ?)"));
  select.Bind(1, static_cast<int64_t>(runyard::v1::COMPLETED))
      .Bind(2, static_cast<int64_t>(runyard::v1::FAILED))
      .Bind(3, static_cast<int64_t>(runyard::v1::CANCELED));
  std::vector<LeaseRecord> leases;
  while (select.Step()) leases.push_back(LeaseFromRow(select));
  RETURN_IF_ERROR(select.status());
  return leases;
}

absl::Status SqliteConnectionStore::UpsertAgent(const AgentRecord& agent) {
  Statement upsert = db_.Prepare(
      "INSERT INTO agents(agent_id, name, pool, slots, hostname, version, capabilities, "
      "registered_ms, last_seen_ms, draining, address, token_id, identity) "
      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, 0, ?9, ?10, ?11) "
      "ON CONFLICT(agent_id) DO UPDATE SET name = ?2, pool = ?3, slots = ?4, hostname = ?5, "
      "version = ?6, capabilities = ?7, last_seen_ms = ?8, draining = 0, address = ?9, "
      "token_id = ?10, identity = ?11");
  upsert.Bind(1, agent.agent_id)
      .Bind(2, agent.name)
      .Bind(3, agent.pool)
      .Bind(4, static_cast<int64_t>(agent.slots))
      .Bind(5, agent.hostname)
      .Bind(6, agent.version)
      .BindBlob(7, agent.capabilities.SerializeAsString())
      .Bind(8, agent.registered_ms)
      .Bind(9, agent.address)
      .Bind(10, agent.token_id)
      .Bind(11, agent.identity);
  return upsert.Run();
}

absl::StatusOr<std::string> SqliteConnectionStore::AgentPool(const std::string& agent_id) {
  Statement select = db_.Prepare("SELECT pool FROM agents WHERE agent_id = ?");
  select.Bind(1, agent_id);
  if (!select.Step()) {
    RETURN_IF_ERROR(select.status());
    return absl::NotFoundError(absl::StrCat("agent '", agent_id, "' is not registered"));
  }
  return select.Text(0);
}

absl::Status SqliteConnectionStore::TouchAgent(const std::string& agent_id, int64_t now_ms,
                                               bool draining) {
  Statement update =
      db_.Prepare("UPDATE agents SET last_seen_ms = ?, draining = ? WHERE agent_id = ?");
  update.Bind(1, now_ms).Bind(2, draining ? 1 : 0).Bind(3, agent_id);
  return update.Run();
}

absl::StatusOr<std::vector<AgentRecord>> SqliteConnectionStore::ListAgents(
    const std::string& pool) {
  Statement select = db_.Prepare(absl::StrCat(
      "SELECT ", kAgentColumns,
      " FROM agents WHERE (?1 = '' OR pool = ?1) ORDER BY pool, name, registered_ms, agent_id"));
  select.Bind(1, pool);
  std::vector<AgentRecord> agents;
  while (select.Step()) agents.push_back(AgentFromRow(select));
  RETURN_IF_ERROR(select.status());
  return agents;
}

absl::StatusOr<AgentRecord> SqliteConnectionStore::GetAgent(const std::string& agent_id) {
  Statement select =
      db_.Prepare(absl::StrCat("SELECT ", kAgentColumns, " FROM agents WHERE agent_id = ?"));
  select.Bind(1, agent_id);
  if (!select.Step()) {
    RETURN_IF_ERROR(select.status());
    return absl::NotFoundError(absl::StrCat("agent '", agent_id, "' is not registered"));
  }
  return AgentFromRow(select);
}

absl::Status SqliteConnectionStore::SetFileSize(const std::string& run_id, const std::string& path,
                                                int64_t size, int64_t now_ms) {
  Statement upsert = db_.Prepare(
      "INSERT INTO files(run_id, path, size, updated_ms) VALUES(?1, ?2, ?3, ?4) "
      "ON CONFLICT(run_id, path) DO UPDATE SET size = ?3, updated_ms = ?4");
  upsert.Bind(1, run_id).Bind(2, path).Bind(3, size).Bind(4, now_ms);
  return upsert.Run();
}

absl::StatusOr<std::vector<runyard::v1::FileInfo>> SqliteConnectionStore::ListFiles(
    const std::string& run_id) {
  Statement select = db_.Prepare("SELECT path, size FROM files WHERE run_id = ? ORDER BY path");
  select.Bind(1, run_id);
  std::vector<runyard::v1::FileInfo> files;
  while (select.Step()) {
    runyard::v1::FileInfo info;
    info.set_path(select.Text(0));
    info.set_size(select.Int(1));
    files.push_back(info);
  }
  RETURN_IF_ERROR(select.status());
  return files;
}

}  // namespace runyard::server
