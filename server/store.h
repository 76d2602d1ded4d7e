#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runyard/v1/run.pb.h"
#include "runyard/v1/services.pb.h"

namespace runyard::server {

// Who holds a run right now.
struct LeaseRecord {
  std::string run_id;
  std::string agent_id;
  std::string lease_id;
  int64_t fencing_token = 0;
  int64_t expiry_ms = 0;
  runyard::v1::RunStatus status = runyard::v1::RUN_STATUS_UNSPECIFIED;
};

// How many runs of a target (pool) are in a status.
struct RunCount {
  std::string target;
  runyard::v1::RunStatus status = runyard::v1::RUN_STATUS_UNSPECIFIED;
  int64_t count = 0;
};

// A registered agent as the store keeps it.
struct AgentRecord {
  std::string agent_id;
  std::string name;
  std::string pool;
  int slots = 0;
  std::string hostname;
  std::string version;
  runyard::v1::Capabilities capabilities;
  int64_t registered_ms = 0;
  int64_t last_seen_ms = 0;  // its last poll
  bool draining = false;     // what its last poll said
  // How the other nodes of a distributed run reach it: what it registered with, else the
  // address it connected from.
  std::string address;
  // The agent token it registered with (issue 17; empty in local mode), and who it is in
  // words ("agent token <id>, joined with join token <id>").
  std::string token_id;
  std::string identity;
};

// An access token as the store keeps it (TokenInfo in services.proto): of its secret only
// the SHA-256 (common/access_token.h).
struct TokenRecord {
  std::string token_id;
  runyard::v1::TokenKind kind = runyard::v1::TOKEN_KIND_UNSPECIFIED;
  runyard::v1::Role role = runyard::v1::ROLE_UNSPECIFIED;  // user tokens
  std::string name;
  std::string pool;        // join and agent tokens
  std::string agent_name;  // agent tokens
  std::string run_id;      // run tokens
  std::string secret_sha256;
  int64_t created_ms = 0;
  int64_t expires_ms = 0;  // 0: never
  bool revoked = false;
  std::string created_by;
  int64_t last_used_ms = 0;
};

// One line of the audit (AuditEvent in services.proto).
struct AuditRecord {
  int64_t time_ms = 0;
  std::string actor;
  std::string action;
  std::string target;
  std::string detail;
};

// One node of a distributed run's current attempt (issue 16): which agent holds it under
// which lease of its own, and how far it got. The attempt's fencing token is the run's
// lease token at hand-out; a node whose token is not the run's belongs to an old attempt.
struct GangNodeRecord {
  std::string run_id;
  // node_rank, agent_id, agent_name, hostname, address, status, ranks, error as shown in
  // Run.nodes; `status` is the node's own (the run's is aggregated from them).
  runyard::v1::RunNode node;
  std::string lease_id;  // empty for the nodes of a local run (recorded once it ended)
  int64_t fencing_token = 0;
  int64_t expiry_ms = 0;    // the node's lease, renewed by its agent's polls and reports
  int64_t assigned_ms = 0;  // when the attempt was handed out (its start deadline counts from it)
  int64_t ended_ms = 0;     // when its terminal status came (or its lease was found expired)
  bool has_exit_code = false;
  int exit_code = 0;
  runyard::v1::RunUsage usage;
  // The attempt's ports on every node: [base_port, base_port + port_count).
  int base_port = 0;
  int port_count = 0;
};

// Values appended to one metric series of a run (after the values it has; the store
// numbers them on from the series' count).
struct MetricAppend {
  std::string run_id;
  std::string name;
  std::string description;              // kept from the series' first append
  std::vector<runyard::v1::MetricValue> values;  // seq is ignored: the store assigns it
};

// What a listing of runs asks for (ListRunsRequest in services.proto): every field set
// must match.
struct RunFilter {
  std::string experiment;
  int limit = 50;  // 50 when not positive
  std::map<std::string, std::string> tags;        // an empty value: any value of the key
  std::map<std::string, std::string> properties;  // the same
  runyard::v1::RunStatus status = runyard::v1::RUN_STATUS_UNSPECIFIED;
  std::string parent_run_id;
  // Only runs without a parent (ignored when parent_run_id is set).
  bool top_level_only = false;
  bool include_archived = false;  // runs of archived experiments, when `experiment` is empty
};

// What a run's own script asked for its end (run.fail(), run.cancel() in the in-run API),
// applied when the run ends.
struct RequestedOutcome {
  runyard::v1::RunStatus status = runyard::v1::RUN_STATUS_UNSPECIFIED;  // FAILED or CANCELED
  runyard::v1::RunError error;
};

// Run history: runs with their status history, experiments, agents, files. An interface,
// so that the control plane never sees how rows are kept: SqliteStore
// (server/sqlite_store.h) is the embedded default; a PostgreSQL store must later pass the
// same suite (tests/unit/store_suite.h). Implementations are thread-safe, and several
// processes may open the same store.
class Store {
 public:
  virtual ~Store() = default;

  // Opens (creating and migrating) the SQLite store at `path`.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path);

  // Runs `body` as one transaction: every call it makes on `txn` commits together when it
  // returns OK, and none does when it returns an error (which is returned). What every
  // implementation must keep to, and every body may rely on:
  // - `body` runs exactly once (an implementation that must retry a serialization failure
  //   returns it as Aborted instead; the caller decides);
  // - `body` returns as soon as a call on `txn` fails (some databases abort the whole
  //   transaction at the first error);
  // - `txn` is valid only inside `body`, on the body's thread; a call to InTransaction on
  //   `txn` runs inline in the same transaction (no savepoint: a nested error that the
  //   outer body swallows does not undo the nested writes);
  // - writes go through `txn`, never through this Store, while `body` runs.
  virtual absl::Status InTransaction(const std::function<absl::Status(Store& txn)>& body) = 0;

  // Stores a new run with its parent_run_id; its tags and properties are the spec's (and
  // the Run's own maps, which win), and its experiment is created if new.
  virtual absl::Status InsertRun(const runyard::v1::Run& run) = 0;
  // The run with its current tags and properties.
  virtual absl::StatusOr<runyard::v1::Run> GetRun(const std::string& run_id) = 0;
  // The newest runs first (of two created in the same millisecond, the later submitted
  // first) that match `filter`; at most filter.limit.
  virtual absl::StatusOr<std::vector<runyard::v1::Run>> ListRuns(const RunFilter& filter) = 0;
  // The same for an experiment (every one when empty), archived ones included.
  absl::StatusOr<std::vector<runyard::v1::Run>> ListRuns(const std::string& experiment, int limit) {
    RunFilter filter;
    filter.experiment = experiment;
    filter.limit = limit;
    filter.include_archived = true;
    return ListRuns(filter);
  }
  virtual absl::StatusOr<bool> RunExists(const std::string& run_id) = 0;

  // Moves a run to `status` and records the transition in its history.
  virtual absl::Status AppendStatus(const std::string& run_id, runyard::v1::RunStatus status,
                                    int64_t time_ms) = 0;
  virtual absl::Status SetOutcome(const std::string& run_id, bool has_exit_code, int exit_code,
                                  const runyard::v1::RunError& error) = 0;
  virtual absl::Status SetUsage(const std::string& run_id, const runyard::v1::RunUsage& usage) = 0;

  virtual absl::Status SetLease(const LeaseRecord& lease) = 0;
  virtual absl::StatusOr<LeaseRecord> GetLease(const std::string& run_id) = 0;
  virtual absl::Status RenewLease(const std::string& run_id, int64_t expiry_ms) = 0;
  // Queued runs of a pool that no agent holds yet, oldest first (in submit order).
  virtual absl::StatusOr<std::vector<std::string>> QueuedRuns(const std::string& pool,
                                                              int limit) = 0;
  // Every leased run that has not ended (including leased but not yet started).
  virtual absl::StatusOr<std::vector<LeaseRecord>> ActiveLeases() = 0;
  // Queued runs of a pool that no agent holds and whose retry time (SetAttempt) has come
  // by `now_ms`, oldest first: what a dispatch may hand out.
  virtual absl::StatusOr<std::vector<std::string>> ReadyRuns(const std::string& pool,
                                                             int64_t now_ms, int limit) = 0;
  // A distributed run's attempt count (Run.attempt) and the earliest time it may be handed
  // out again (0: at once).
  virtual absl::Status SetAttempt(const std::string& run_id, int attempt,
                                  int64_t not_before_ms) = 0;

  // ---- the nodes of distributed runs (issue 16)
  // Replaces every node of the run with `nodes` (none: the run has no nodes).
  virtual absl::Status SetGangNodes(const std::string& run_id,
                                    const std::vector<GangNodeRecord>& nodes) = 0;
  // The run's nodes by node rank; none for a run that has none (or does not exist).
  virtual absl::StatusOr<std::vector<GangNodeRecord>> GangNodes(const std::string& run_id) = 0;
  // Writes everything of the node (run_id, node.node_rank()) but its rank; NotFound when
  // the run has no such node.
  virtual absl::Status UpdateGangNode(const GangNodeRecord& node) = 0;
  virtual absl::Status RenewGangNode(const std::string& run_id, int node_rank,
                                     int64_t expiry_ms) = 0;
  // The node holding `lease_id`; NotFound when no node does.
  virtual absl::StatusOr<GangNodeRecord> FindGangNodeByLease(const std::string& lease_id) = 0;
  // The nodes of the current attempts of every leased run that has not ended, by run and
  // node rank (the reaper's and the port allocator's view).
  virtual absl::StatusOr<std::vector<GangNodeRecord>> ActiveGangNodes() = 0;
  // Runs by target and status, in that order (for /metrics); also a cheap check that the
  // database answers.
  virtual absl::StatusOr<std::vector<RunCount>> CountRuns() = 0;

  // Registers (or registers again) an agent; registered and last seen are set to
  // `agent.registered_ms`.
  virtual absl::Status UpsertAgent(const AgentRecord& agent) = 0;
  // The pool an agent serves; NotFound for an agent this server never registered.
  virtual absl::StatusOr<std::string> AgentPool(const std::string& agent_id) = 0;
  // A poll: the agent was seen at `now_ms` and says whether it drains.
  virtual absl::Status TouchAgent(const std::string& agent_id, int64_t now_ms, bool draining) = 0;
  // Every agent of `pool` (every agent when empty), by pool, name and registration.
  virtual absl::StatusOr<std::vector<AgentRecord>> ListAgents(const std::string& pool) = 0;
  // NotFound for an agent this server never registered.
  virtual absl::StatusOr<AgentRecord> GetAgent(const std::string& agent_id) = 0;

  // ---- access (issue 17): tokens, the audit, run secrets
  // AlreadyExists when the token id is taken.
  virtual absl::Status InsertToken(const TokenRecord& token) = 0;
  // NotFound for an unknown token id.
  virtual absl::StatusOr<TokenRecord> GetToken(const std::string& token_id) = 0;
  // User, join and agent tokens (run tokens too with `include_run_tokens`: there is one per
  // hand-out), revoked ones only with `include_revoked`; oldest first.
  virtual absl::StatusOr<std::vector<TokenRecord>> ListTokens(bool include_revoked,
                                                              bool include_run_tokens) = 0;
  // NotFound for an unknown token id; revoking a revoked token is no change.
  virtual absl::Status RevokeToken(const std::string& token_id) = 0;
  // The token was used at `now_ms` (TokenInfo.last_used_unix_ms).
  virtual absl::Status TouchToken(const std::string& token_id, int64_t now_ms) = 0;
  // Deletes the tokens of `kind` that expired before `now_ms`; how many went.
  virtual absl::StatusOr<int64_t> DeleteExpiredTokens(runyard::v1::TokenKind kind,
                                                      int64_t now_ms) = 0;
  virtual absl::Status AppendAudit(const AuditRecord& event) = 0;
  // The newest events first, at most `limit`; only those about `target` when not empty.
  virtual absl::StatusOr<std::vector<AuditRecord>> ListAudit(const std::string& target,
                                                             int limit) = 0;
  // The values of a run's secret variables, kept apart from its spec (whose copies are
  // masked) so that no read of a run shows them; replaces what the run had.
  virtual absl::Status SetRunSecrets(const std::string& run_id,
                                     const std::map<std::string, std::string>& values) = 0;
  // By name; none for a run that has none (or does not exist).
  virtual absl::StatusOr<std::map<std::string, std::string>> RunSecrets(
      const std::string& run_id) = 0;
  virtual absl::Status DeleteRunSecrets(const std::string& run_id) = 0;
  // Run.canceled_by (Run.submitted_by is InsertRun's).
  virtual absl::Status SetCanceledBy(const std::string& run_id, const std::string& actor) = 0;

  // ---- the in-run API's history (metrics, tags, properties, children; issue 15)
  // Appends values to series; one call may append to several series (in order). NotFound
  // (and nothing written) when a new series would belong to a run that does not exist.
  virtual absl::Status AppendMetrics(const std::vector<MetricAppend>& appends) = 0;
  // Every series of a run (or only `name` when not empty), by name, without values. min and
  // max are over its numbers but NaN (which has no order; ±Inf count), has_numbers false
  // when there are none. Every number comes back as appended, NaN and ±Inf included.
  virtual absl::StatusOr<std::vector<runyard::v1::MetricSeries>> MetricSummaries(
      const std::string& run_id, const std::string& name) = 0;
  // Values of one series with seq >= after_seq, in order, at most `limit` (10,000 when not
  // positive). Reads of metrics, children, the ingested offset and the requested outcome of
  // a run that does not exist answer as for a run that has none; writes are NotFound.
  virtual absl::StatusOr<std::vector<runyard::v1::MetricValue>> MetricValues(
      const std::string& run_id, const std::string& name, int64_t after_seq, int limit) = 0;
  // How many values a run's series hold together (its limit is checked against it).
  virtual absl::StatusOr<int64_t> CountMetricValues(const std::string& run_id) = 0;
  // Sets tags (a key set again takes the new value) and removes the keys in `remove`.
  virtual absl::Status SetTags(const std::string& run_id,
                               const std::map<std::string, std::string>& tags,
                               const std::vector<std::string>& remove) = 0;
  // Adds properties; FailedPrecondition naming the key when one is already set to another
  // value (nothing is written then). Setting a key to the value it has is no change.
  virtual absl::Status AddProperties(const std::string& run_id,
                                     const std::map<std::string, std::string>& properties) = 0;
  // The children of a run, oldest first.
  virtual absl::StatusOr<std::vector<std::string>> ChildRuns(const std::string& parent_run_id) = 0;
  // How far the run's record channel (system_logs/run_records.jsonl) has been read into
  // history: a byte offset, 0 at first.
  virtual absl::StatusOr<int64_t> RecordsIngested(const std::string& run_id) = 0;
  virtual absl::Status SetRecordsIngested(const std::string& run_id, int64_t offset) = 0;
  // The same for the record channel of node `node_rank` of a distributed run
  // (system_logs/node_<k>/run_records.jsonl; node 0's is the run's own, above).
  virtual absl::StatusOr<int64_t> NodeRecordsIngested(const std::string& run_id,
                                                      int node_rank) = 0;
  virtual absl::Status SetNodeRecordsIngested(const std::string& run_id, int node_rank,
                                              int64_t offset) = 0;
  virtual absl::Status SetRequestedOutcome(const std::string& run_id,
                                           const RequestedOutcome& outcome) = 0;
  // Nothing (status unspecified) when the script asked for nothing.
  virtual absl::StatusOr<RequestedOutcome> GetRequestedOutcome(const std::string& run_id) = 0;
  // Experiments by name, with how many runs each has; archived ones only when asked.
  virtual absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>> ListExperiments(
      bool include_archived) = 0;
  // NotFound for an experiment that does not exist.
  virtual absl::Status SetExperimentArchived(const std::string& name, bool archived) = 0;

  virtual absl::Status SetFileSize(const std::string& run_id, const std::string& path, int64_t size,
                                   int64_t now_ms) = 0;
  virtual absl::StatusOr<std::vector<runyard::v1::FileInfo>> ListFiles(
      const std::string& run_id) = 0;
};

}  // namespace runyard::server
