#include "server/sqlite_store.h"

#include <utility>

#include "absl/cleanup/cleanup.h"
#include "common/logging.h"
#include "server/sqlite_connection_store.h"
#include "server/sqlite_schema.h"

namespace runyard::server {
namespace {

// Enough for the gRPC handlers that read at once (most reads take well under a millisecond);
// each connection costs a file handle and its page cache.
constexpr int kMaxReaders = 8;

// The store whose writer connection this thread holds, if any: a write on that store from
// inside its own InTransaction body would wait for itself forever.
thread_local const SqliteStore* writing_store = nullptr;

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path) {
  absl::StatusOr<std::unique_ptr<Database>> writer = Database::Open(path);
  if (!writer.ok()) return writer.status();
  if (absl::Status migrated = MigrateSchema(**writer); !migrated.ok()) return migrated;
  return std::unique_ptr<SqliteStore>(new SqliteStore(path, std::move(*writer)));
}

SqliteStore::SqliteStore(std::string path, std::unique_ptr<Database> writer)
    : path_(std::move(path)), readers_(path_, kMaxReaders), writer_(std::move(writer)) {}

template <typename Result>
Result SqliteStore::Read(const std::function<Result(Store&)>& read) {
  absl::StatusOr<SqliteReaderPool::Lease> reader = readers_.Borrow();
  if (!reader.ok()) return reader.status();
  SqliteConnectionStore connection(reader->db());
  return read(connection);
}

absl::Status SqliteStore::Write(const std::function<absl::Status(Store&)>& write) {
  if (writing_store == this) {
    return absl::FailedPreconditionError(
        "a write on the store inside its own InTransaction: write through `txn`");
  }
  std::lock_guard lock(writer_mutex_);
  // Restored, not cleared: a body of another store's transaction may write to this one.
  const SqliteStore* const outer = std::exchange(writing_store, this);
  absl::Cleanup not_writing = [outer] { writing_store = outer; };
  if (!writer_) {
    absl::StatusOr<std::unique_ptr<Database>> reopened = Database::Open(path_);
    if (!reopened.ok()) return reopened.status();
    writer_ = std::move(*reopened);
  }
  SqliteConnectionStore connection(*writer_);
  absl::Status result = write(connection);
  if (writer_->InTransaction()) {
    // Its ROLLBACK failed (the error is in `result`): a connection stuck in a transaction
    // would fail every later write, so it is closed, which rolls back, and opened afresh.
    common::Logger("store")->error(
        "sqlite store {}: writer connection left in a transaction, reopening", path_);
    writer_.reset();
  }
  return result;
}

absl::Status SqliteStore::InTransaction(const std::function<absl::Status(Store& txn)>& body) {
  return Write([&](Store& writer) { return writer.InTransaction(body); });
}

absl::Status SqliteStore::InsertRun(const runyard::v1::Run& run) {
  return Write([&](Store& writer) { return writer.InsertRun(run); });
}

absl::StatusOr<runyard::v1::Run> SqliteStore::GetRun(const std::string& run_id) {
  return Read<absl::StatusOr<runyard::v1::Run>>(
      [&](Store& reader) { return reader.GetRun(run_id); });
}

absl::StatusOr<std::vector<runyard::v1::Run>> SqliteStore::ListRuns(const RunFilter& filter) {
  return Read<absl::StatusOr<std::vector<runyard::v1::Run>>>(
      [&](Store& reader) { return reader.ListRuns(filter); });
}

absl::StatusOr<bool> SqliteStore::RunExists(const std::string& run_id) {
  return Read<absl::StatusOr<bool>>([&](Store& reader) { return reader.RunExists(run_id); });
}

absl::Status SqliteStore::AppendStatus(const std::string& run_id, runyard::v1::RunStatus status,
                                       int64_t time_ms) {
  return Write([&](Store& writer) { return writer.AppendStatus(run_id, status, time_ms); });
}

absl::Status SqliteStore::SetOutcome(const std::string& run_id, bool has_exit_code, int exit_code,
                                     const runyard::v1::RunError& error) {
  return Write(
      [&](Store& writer) { return writer.SetOutcome(run_id, has_exit_code, exit_code, error); });
}

absl::Status SqliteStore::SetUsage(const std::string& run_id, const runyard::v1::RunUsage& usage) {
  return Write([&](Store& writer) { return writer.SetUsage(run_id, usage); });
}

absl::Status SqliteStore::SetLease(const LeaseRecord& lease) {
  return Write([&](Store& writer) { return writer.SetLease(lease); });
}

absl::StatusOr<LeaseRecord> SqliteStore::GetLease(const std::string& run_id) {
  return Read<absl::StatusOr<LeaseRecord>>([&](Store& reader) { return reader.GetLease(run_id); });
}

absl::Status SqliteStore::RenewLease(const std::string& run_id, int64_t expiry_ms) {
  return Write([&](Store& writer) { return writer.RenewLease(run_id, expiry_ms); });
}

absl::StatusOr<std::vector<std::string>> SqliteStore::QueuedRuns(const std::string& pool,
                                                                 int limit) {
  return Read<absl::StatusOr<std::vector<std::string>>>(
      [&](Store& reader) { return reader.QueuedRuns(pool, limit); });
}

absl::StatusOr<std::vector<LeaseRecord>> SqliteStore::ActiveLeases() {
  return Read<absl::StatusOr<std::vector<LeaseRecord>>>(
      [&](Store& reader) { return reader.ActiveLeases(); });
}

absl::StatusOr<std::vector<std::string>> SqliteStore::ReadyRuns(const std::string& pool,
                                                                int64_t now_ms, int limit) {
  return Read<absl::StatusOr<std::vector<std::string>>>(
      [&](Store& reader) { return reader.ReadyRuns(pool, now_ms, limit); });
}

absl::Status SqliteStore::SetAttempt(const std::string& run_id, int attempt,
                                     int64_t not_before_ms) {
  return Write([&](Store& writer) { return writer.SetAttempt(run_id, attempt, not_before_ms); });
}

absl::Status SqliteStore::SetGangNodes(const std::string& run_id,
                                       const std::vector<GangNodeRecord>& nodes) {
  return Write([&](Store& writer) { return writer.SetGangNodes(run_id, nodes); });
}

absl::StatusOr<std::vector<GangNodeRecord>> SqliteStore::GangNodes(const std::string& run_id) {
  return Read<absl::StatusOr<std::vector<GangNodeRecord>>>(
      [&](Store& reader) { return reader.GangNodes(run_id); });
}

absl::Status SqliteStore::UpdateGangNode(const GangNodeRecord& node) {
  return Write([&](Store& writer) { return writer.UpdateGangNode(node); });
}

absl::Status SqliteStore::RenewGangNode(const std::string& run_id, int node_rank,
                                        int64_t expiry_ms) {
  return Write([&](Store& writer) { return writer.RenewGangNode(run_id, node_rank, expiry_ms); });
}

absl::StatusOr<GangNodeRecord> SqliteStore::FindGangNodeByLease(const std::string& lease_id) {
  return Read<absl::StatusOr<GangNodeRecord>>(
      [&](Store& reader) { return reader.FindGangNodeByLease(lease_id); });
}

absl::StatusOr<std::vector<GangNodeRecord>> SqliteStore::ActiveGangNodes() {
  return Read<absl::StatusOr<std::vector<GangNodeRecord>>>(
      [&](Store& reader) { return reader.ActiveGangNodes(); });
}

absl::StatusOr<std::vector<RunCount>> SqliteStore::CountRuns() {
  return Read<absl::StatusOr<std::vector<RunCount>>>(
      [&](Store& reader) { return reader.CountRuns(); });
}

absl::Status SqliteStore::UpsertAgent(const AgentRecord& agent) {
  return Write([&](Store& writer) { return writer.UpsertAgent(agent); });
}

absl::StatusOr<std::string> SqliteStore::AgentPool(const std::string& agent_id) {
  return Read<absl::StatusOr<std::string>>(
      [&](Store& reader) { return reader.AgentPool(agent_id); });
}

absl::Status SqliteStore::TouchAgent(const std::string& agent_id, int64_t now_ms, bool draining) {
  return Write([&](Store& writer) { return writer.TouchAgent(agent_id, now_ms, draining); });
}

absl::StatusOr<std::vector<AgentRecord>> SqliteStore::ListAgents(const std::string& pool) {
  return Read<absl::StatusOr<std::vector<AgentRecord>>>(
      [&](Store& reader) { return reader.ListAgents(pool); });
}

absl::StatusOr<AgentRecord> SqliteStore::GetAgent(const std::string& agent_id) {
  return Read<absl::StatusOr<AgentRecord>>([&](Store& reader) { return reader.GetAgent(agent_id); });
}

absl::Status SqliteStore::InsertToken(const TokenRecord& token) {
  return Write([&](Store& writer) { return writer.InsertToken(token); });
}

absl::StatusOr<TokenRecord> SqliteStore::GetToken(const std::string& token_id) {
  return Read<absl::StatusOr<TokenRecord>>([&](Store& reader) { return reader.GetToken(token_id); });
}

absl::StatusOr<std::vector<TokenRecord>> SqliteStore::ListTokens(bool include_revoked,
                                                                bool include_run_tokens) {
  return Read<absl::StatusOr<std::vector<TokenRecord>>>(
      [&](Store& reader) { return reader.ListTokens(include_revoked, include_run_tokens); });
}

absl::Status SqliteStore::RevokeToken(const std::string& token_id) {
  return Write([&](Store& writer) { return writer.RevokeToken(token_id); });
}

absl::Status SqliteStore::TouchToken(const std::string& token_id, int64_t now_ms) {
  return Write([&](Store& writer) { return writer.TouchToken(token_id, now_ms); });
}

absl::StatusOr<int64_t> SqliteStore::DeleteExpiredTokens(runyard::v1::TokenKind kind,
                                                         int64_t now_ms) {
  absl::StatusOr<int64_t> deleted = 0;
  absl::Status written = Write([&](Store& writer) {
    deleted = writer.DeleteExpiredTokens(kind, now_ms);
    return deleted.status();
  });
  if (!written.ok()) return written;
  return deleted;
}

absl::Status SqliteStore::AppendAudit(const AuditRecord& event) {
  return Write([&](Store& writer) { return writer.AppendAudit(event); });
}

absl::StatusOr<std::vector<AuditRecord>> SqliteStore::ListAudit(const std::string& target,
                                                               int limit) {
  return Read<absl::StatusOr<std::vector<AuditRecord>>>(
      [&](Store& reader) { return reader.ListAudit(target, limit); });
}

absl::Status SqliteStore::SetRunSecrets(const std::string& run_id,
                                        const std::map<std::string, std::string>& values) {
  return Write([&](Store& writer) { return writer.SetRunSecrets(run_id, values); });
}

absl::StatusOr<std::map<std::string, std::string>> SqliteStore::RunSecrets(
    const std::string& run_id) {
  return Read<absl::StatusOr<std::map<std::string, std::string>>>(
      [&](Store& reader) { return reader.RunSecrets(run_id); });
}

absl::Status SqliteStore::DeleteRunSecrets(const std::string& run_id) {
  return Write([&](Store& writer) { return writer.DeleteRunSecrets(run_id); });
}

absl::Status SqliteStore::SetCanceledBy(const std::string& run_id, const std::string& actor) {
  return Write([&](Store& writer) { return writer.SetCanceledBy(run_id, actor); });
}

absl::Status SqliteStore::AppendMetrics(const std::vector<MetricAppend>& appends) {
  return Write([&](Store& writer) { return writer.AppendMetrics(appends); });
}

absl::StatusOr<std::vector<runyard::v1::MetricSeries>> SqliteStore::MetricSummaries(
    const std::string& run_id, const std::string& name) {
  return Read<absl::StatusOr<std::vector<runyard::v1::MetricSeries>>>(
      [&](Store& reader) { return reader.MetricSummaries(run_id, name); });
}

absl::StatusOr<std::vector<runyard::v1::MetricValue>> SqliteStore::MetricValues(
    const std::string& run_id, const std::string& name, int64_t after_seq, int limit) {
  return Read<absl::StatusOr<std::vector<runyard::v1::MetricValue>>>(
      [&](Store& reader) { return reader.MetricValues(run_id, name, after_seq, limit); });
}

absl::StatusOr<int64_t> SqliteStore::CountMetricValues(const std::string& run_id) {
  return Read<absl::StatusOr<int64_t>>(
      [&](Store& reader) { return reader.CountMetricValues(run_id); });
}

absl::Status SqliteStore::SetTags(const std::string& run_id,
                                  const std::map<std::string, std::string>& tags,
                                  const std::vector<std::string>& remove) {
  return Write([&](Store& writer) { return writer.SetTags(run_id, tags, remove); });
}

absl::Status SqliteStore::AddProperties(const std::string& run_id,
                                        const std::map<std::string, std::string>& properties) {
  return Write([&](Store& writer) { return writer.AddProperties(run_id, properties); });
}

absl::StatusOr<std::vector<std::string>> SqliteStore::ChildRuns(const std::string& parent_run_id) {
  return Read<absl::StatusOr<std::vector<std::string>>>(
      [&](Store& reader) { return reader.ChildRuns(parent_run_id); });
}

absl::StatusOr<int64_t> SqliteStore::RecordsIngested(const std::string& run_id) {
  return Read<absl::StatusOr<int64_t>>(
      [&](Store& reader) { return reader.RecordsIngested(run_id); });
}

absl::Status SqliteStore::SetRecordsIngested(const std::string& run_id, int64_t offset) {
  return Write([&](Store& writer) { return writer.SetRecordsIngested(run_id, offset); });
}

absl::StatusOr<int64_t> SqliteStore::NodeRecordsIngested(const std::string& run_id,
                                                         int node_rank) {
  return Read<absl::StatusOr<int64_t>>(
      [&](Store& reader) { return reader.NodeRecordsIngested(run_id, node_rank); });
}

absl::Status SqliteStore::SetNodeRecordsIngested(const std::string& run_id, int node_rank,
                                                 int64_t offset) {
  return Write(
      [&](Store& writer) { return writer.SetNodeRecordsIngested(run_id, node_rank, offset); });
}

absl::Status SqliteStore::SetRequestedOutcome(const std::string& run_id,
                                              const RequestedOutcome& outcome) {
  return Write([&](Store& writer) { return writer.SetRequestedOutcome(run_id, outcome); });
}

absl::StatusOr<RequestedOutcome> SqliteStore::GetRequestedOutcome(const std::string& run_id) {
  return Read<absl::StatusOr<RequestedOutcome>>(
      [&](Store& reader) { return reader.GetRequestedOutcome(run_id); });
}

absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>> SqliteStore::ListExperiments(
    bool include_archived) {
  return Read<absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>>>(
      [&](Store& reader) { return reader.ListExperiments(include_archived); });
}

absl::Status SqliteStore::SetExperimentArchived(const std::string& name, bool archived) {
  return Write([&](Store& writer) { return writer.SetExperimentArchived(name, archived); });
}

absl::Status SqliteStore::SetFileSize(const std::string& run_id, const std::string& path,
                                      int64_t size, int64_t now_ms) {
  return Write([&](Store& writer) { return writer.SetFileSize(run_id, path, size, now_ms); });
}

absl::StatusOr<std::vector<runyard::v1::FileInfo>> SqliteStore::ListFiles(
    const std::string& run_id) {
  return Read<absl::StatusOr<std::vector<runyard::v1::FileInfo>>>(
      [&](Store& reader) { return reader.ListFiles(run_id); });
}

}  // namespace runyard::server
