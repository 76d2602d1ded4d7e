#pragma once

#include <cstdint>
#include <functional>
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

  virtual absl::Status InsertRun(const runyard::v1::Run& run) = 0;
  virtual absl::StatusOr<runyard::v1::Run> GetRun(const std::string& run_id) = 0;
  // The newest runs first (of `experiment`, or of all when empty; of two created in the
  // same millisecond, the later submitted first); at most `limit` (50 when not positive).
  virtual absl::StatusOr<std::vector<runyard::v1::Run>> ListRuns(const std::string& experiment,
                                                                 int limit) = 0;
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

  virtual absl::Status SetFileSize(const std::string& run_id, const std::string& path, int64_t size,
                                   int64_t now_ms) = 0;
  virtual absl::StatusOr<std::vector<runyard::v1::FileInfo>> ListFiles(
      const std::string& run_id) = 0;
};

}  // namespace runyard::server
