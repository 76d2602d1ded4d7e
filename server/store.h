#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runyard/v1/run.pb.h"
#include "runyard/v1/services.pb.h"
#include "server/sqlite.h"

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

// Run history on SQLite: runs with their status history, experiments, agents, files.
// Thread-safe; several processes may open the same file.
class Store {
 public:
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path);

  absl::Status InsertRun(const runyard::v1::Run& run);
  absl::StatusOr<runyard::v1::Run> GetRun(const std::string& run_id);
  absl::StatusOr<std::vector<runyard::v1::Run>> ListRuns(const std::string& experiment, int limit);
  bool RunExists(const std::string& run_id);

  // Moves a run to `status` and records the transition in its history.
  absl::Status AppendStatus(const std::string& run_id, runyard::v1::RunStatus status, int64_t time_ms);
  absl::Status SetOutcome(const std::string& run_id, bool has_exit_code, int exit_code,
                          const runyard::v1::RunError& error);
  absl::Status SetUsage(const std::string& run_id, const runyard::v1::RunUsage& usage);

  absl::Status SetLease(const LeaseRecord& lease);
  absl::StatusOr<LeaseRecord> GetLease(const std::string& run_id);
  absl::Status RenewLease(const std::string& run_id, int64_t expiry_ms);
  // Queued runs of a pool that no agent holds yet, oldest first.
  absl::StatusOr<std::vector<std::string>> QueuedRuns(const std::string& pool, int limit);
  // Every leased run that has not ended (including leased but not yet started).
  absl::StatusOr<std::vector<LeaseRecord>> ActiveLeases();
  // Runs by target and status (for /metrics); also a cheap check that the database answers.
  absl::StatusOr<std::vector<RunCount>> CountRuns();

  // Registers (or registers again) an agent; registered and last seen are set to
  // `agent.registered_ms`.
  absl::Status UpsertAgent(const AgentRecord& agent);
  // The pool an agent serves; NotFound for an agent this server never registered.
  absl::StatusOr<std::string> AgentPool(const std::string& agent_id);
  // A poll: the agent was seen at `now_ms` and says whether it drains.
  absl::Status TouchAgent(const std::string& agent_id, int64_t now_ms, bool draining);
  // Every agent of `pool` (every agent when empty), by pool, name and registration.
  absl::StatusOr<std::vector<AgentRecord>> ListAgents(const std::string& pool);

  absl::Status SetFileSize(const std::string& run_id, const std::string& path, int64_t size,
                           int64_t now_ms);
  absl::StatusOr<std::vector<runyard::v1::FileInfo>> ListFiles(const std::string& run_id);

 private:
  explicit Store(std::unique_ptr<Database> db) : db_(std::move(db)) {}
  absl::Status Migrate();
  bool HasColumn(std::string_view table, std::string_view column);
  absl::Status LoadHistory(runyard::v1::Run* run);

  std::mutex mutex_;
  std::unique_ptr<Database> db_;
};

}  // namespace runyard::server
