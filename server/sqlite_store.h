#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "server/sqlite.h"
#include "server/sqlite_reader_pool.h"
#include "server/store.h"

namespace runyard::server {

// The embedded store: one SQLite file in WAL mode. Reads borrow a query-only connection
// from a pool and run in parallel with each other and with the write in progress. Writes
// (and InTransaction) take the process's one writer connection under a mutex: SQLite allows
// one writer per database anyway, and waiting on a mutex wakes a thread as soon as the
// writer is free, where waiting on SQLite's lock polls with sleeps (its busy handler). Other
// processes on the same file are serialized by SQLite's lock and busy timeout.
class SqliteStore final : public Store {
 public:
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path);

  // `body` gets the writer connection: it writes through `txn`. A write on this store from
  // inside `body` fails (FailedPrecondition) rather than wait for the writer `body` holds;
  // a read on it sees what was committed before the transaction.
  absl::Status InTransaction(const std::function<absl::Status(Store& txn)>& body) override;

  absl::Status InsertRun(const runyard::v1::Run& run) override;
  absl::StatusOr<runyard::v1::Run> GetRun(const std::string& run_id) override;
  using Store::ListRuns;
  absl::StatusOr<std::vector<runyard::v1::Run>> ListRuns(const RunFilter& filter) override;
  absl::StatusOr<bool> RunExists(const std::string& run_id) override;

  absl::Status AppendStatus(const std::string& run_id, runyard::v1::RunStatus status,
                            int64_t time_ms) override;
  absl::Status SetOutcome(const std::string& run_id, bool has_exit_code, int exit_code,
                          const runyard::v1::RunError& error) override;
  absl::Status SetUsage(const std::string& run_id, const runyard::v1::RunUsage& usage) override;

  absl::Status SetLease(const LeaseRecord& lease) override;
  absl::StatusOr<LeaseRecord> GetLease(const std::string& run_id) override;
  absl::Status RenewLease(const std::string& run_id, int64_t expiry_ms) override;
  absl::StatusOr<std::vector<std::string>> QueuedRuns(const std::string& pool, int limit) override;
  absl::StatusOr<std::vector<LeaseRecord>> ActiveLeases() override;
  absl::StatusOr<std::vector<std::string>> ReadyRuns(const std::string& pool, int64_t now_ms,
                                                     int limit) override;
  absl::Status SetAttempt(const std::string& run_id, int attempt, int64_t not_before_ms) override;

  absl::Status SetGangNodes(const std::string& run_id,
                            const std::vector<GangNodeRecord>& nodes) override;
  absl::StatusOr<std::vector<GangNodeRecord>> GangNodes(const std::string& run_id) override;
  absl::Status UpdateGangNode(const GangNodeRecord& node) override;
  absl::Status RenewGangNode(const std::string& run_id, int node_rank, int64_t expiry_ms) override;
  absl::StatusOr<GangNodeRecord> FindGangNodeByLease(const std::string& lease_id) override;
  absl::StatusOr<std::vector<GangNodeRecord>> ActiveGangNodes() override;
  absl::StatusOr<std::vector<RunCount>> CountRuns() override;

  absl::Status UpsertAgent(const AgentRecord& agent) override;
  absl::StatusOr<std::string> AgentPool(const std::string& agent_id) override;
  absl::Status TouchAgent(const std::string& agent_id, int64_t now_ms, bool draining) override;
  absl::StatusOr<std::vector<AgentRecord>> ListAgents(const std::string& pool) override;
  absl::StatusOr<AgentRecord> GetAgent(const std::string& agent_id) override;

  absl::Status InsertToken(const TokenRecord& token) override;
  absl::StatusOr<TokenRecord> GetToken(const std::string& token_id) override;
  absl::StatusOr<std::vector<TokenRecord>> ListTokens(bool include_revoked,
                                                      bool include_run_tokens) override;
  absl::Status RevokeToken(const std::string& token_id) override;
  absl::Status TouchToken(const std::string& token_id, int64_t now_ms) override;
  absl::StatusOr<int64_t> DeleteExpiredTokens(runyard::v1::TokenKind kind,
                                              int64_t now_ms) override;
  absl::Status AppendAudit(const AuditRecord& event) override;
  absl::StatusOr<std::vector<AuditRecord>> ListAudit(const std::string& target,
                                                     int limit) override;
  absl::Status SetRunSecrets(const std::string& run_id,
                             const std::map<std::string, std::string>& values) override;
  absl::StatusOr<std::map<std::string, std::string>> RunSecrets(
      const std::string& run_id) override;
  absl::Status DeleteRunSecrets(const std::string& run_id) override;
  absl::Status SetCanceledBy(const std::string& run_id, const std::string& actor) override;

  absl::Status AppendMetrics(const std::vector<MetricAppend>& appends) override;
  absl::StatusOr<std::vector<runyard::v1::MetricSeries>> MetricSummaries(
      const std::string& run_id, const std::string& name) override;
  absl::StatusOr<std::vector<runyard::v1::MetricValue>> MetricValues(const std::string& run_id,
                                                                     const std::string& name,
                                                                     int64_t after_seq,
                                                                     int limit) override;
  absl::StatusOr<int64_t> CountMetricValues(const std::string& run_id) override;
  absl::Status SetTags(const std::string& run_id, const std::map<std::string, std::string>& tags,
                       const std::vector<std::string>& remove) override;
  absl::Status AddProperties(const std::string& run_id,
                             const std::map<std::string, std::string>& properties) override;
  absl::StatusOr<std::vector<std::string>> ChildRuns(const std::string& parent_run_id) override;
  absl::StatusOr<int64_t> RecordsIngested(const std::string& run_id) override;
  absl::Status SetRecordsIngested(const std::string& run_id, int64_t offset) override;
  absl::StatusOr<int64_t> NodeRecordsIngested(const std::string& run_id, int node_rank) override;
  absl::Status SetNodeRecordsIngested(const std::string& run_id, int node_rank,
                                      int64_t offset) override;
  absl::Status SetRequestedOutcome(const std::string& run_id,
                                   const RequestedOutcome& outcome) override;
  absl::StatusOr<RequestedOutcome> GetRequestedOutcome(const std::string& run_id) override;
  absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>> ListExperiments(
      bool include_archived) override;
  absl::Status SetExperimentArchived(const std::string& name, bool archived) override;

  absl::Status SetFileSize(const std::string& run_id, const std::string& path, int64_t size,
                           int64_t now_ms) override;
  absl::StatusOr<std::vector<runyard::v1::FileInfo>> ListFiles(const std::string& run_id) override;

 private:
  SqliteStore(std::string path, std::unique_ptr<Database> writer);

  // Runs `read` on a pooled reader connection.
  template <typename Result>
  Result Read(const std::function<Result(Store&)>& read);
  // Runs `write` on the writer connection, holding the writer mutex.
  absl::Status Write(const std::function<absl::Status(Store&)>& write);

  const std::string path_;
  SqliteReaderPool readers_;
  std::mutex writer_mutex_;
  // Null after a failure left it unusable: reopened by the next write.
  std::unique_ptr<Database> writer_ ABSL_GUARDED_BY(writer_mutex_);
};

}  // namespace runyard::server
