#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/snapshot_manifest.h"
#include "runyard/v1/services.pb.h"
#include "server/blob_store.h"
#include "server/blob_uploads.h"
#include "server/identity.h"
#include "server/run_files.h"
#include "server/store.h"

namespace runyard::server {

struct ControlPlaneOptions {
  // An agent must poll within this time or its runs become NotResponding...
  std::chrono::milliseconds lease_duration{std::chrono::seconds(30)};
  // ...and this much later Failed / AgentLost.
  std::chrono::milliseconds agent_lost_after{std::chrono::seconds(60)};
  // The longest a Poll waits with nothing to hand out.
  std::chrono::milliseconds max_poll_wait{std::chrono::seconds(20)};
  // Snapshot limits when the submitter sets none.
  int64_t max_snapshot_bytes = common::kDefaultMaxSnapshotBytes;
  int64_t max_snapshot_files = common::kDefaultMaxSnapshotFiles;
  // Where every time the plane records or compares comes from (statuses, leases, last
  // seen); tests pass a FakeClock. Waits (a long poll, a watch) stay in real time.
  common::Clock* clock = common::Clock::Real();

  // Local mode (the CLI's embedded plane) accepts runs whose compute_target is 'local'; a
  // server refuses them: they run on the submitter's machine.
  bool accepts_local_runs = false;
  // How long a Watch waits for a change it is told of before it looks again: another
  // process sharing the store (local mode) changes runs without telling this one.
  std::chrono::milliseconds watch_recheck{std::chrono::seconds(1)};
  // The in-run API's limits for one run, enforced where records are ingested
  // (server/control_plane_run_records.cc, server/run_record_pass.cc): records past them are
  // not kept, and the run's system_logs/run_api_errors.txt says which limit.
  int64_t max_metric_values_per_run = 5'000'000;
  int64_t max_children_per_run = 10'000;
  int64_t max_tags_per_run = 1'000;  // tags and properties, each

  // Local mode: why the process holding a started run is gone for good, or nullopt while
  // it lives. No reaper watches local runs, so Get, List and Watch end such a run Failed /
  // AgentLost with this message when they meet it. Unset on a server.
  std::function<std::optional<std::string>(const runyard::v1::Run&)> lost_holder;

  // ---- distributed runs (issue 16: server/control_plane_gang*.cc)
  // Every node of an attempt must report Running within this time from its hand-out;
  // else the attempt is stopped on every node and the run queued again...
  std::chrono::milliseconds gang_start_timeout{std::chrono::seconds(600)};
  // ...to be handed out after these waits (the n-th retry waits the n-th, the last one
  // repeats)...
  std::vector<std::chrono::milliseconds> gang_retry_backoff{std::chrono::seconds(5),
                                                            std::chrono::seconds(20)};
  // ...until it was handed out this many times: then it ends Failed / GangStartTimeout.
  int gang_max_attempts = 3;
  // The ports handed to distributed runs, both ends included: each attempt gets a range of
  // PortCount(spec) ports that overlaps no other active attempt's.
  int gang_port_first = 29500;
  int gang_port_last = 30499;
};

// The control plane's logic with no transport: queue per pool, dispatch to waiting
// agents, leases with fencing, cancel, run history, run files and the blob store. Every
// request goes through one of its methods, remote (server/grpc_services.cc) or local
// (cli/local_backend.cc), so that checks, limits and metrics have one place.
class ControlPlane {
 public:
  ControlPlane(Store* store, BlobStore* blobs, RunFiles* files, ControlPlaneOptions options = {});
  ~ControlPlane();

  // Starts the thread that turns expired leases into NotResponding / AgentLost, one pass
  // a second.
  void StartLeaseReaper();
  // One pass of the reaper, now (tests move a FakeClock and call this).
  void ReapExpiredLeasesNow();

  // ---- users
  // Checks the spec and its snapshot (manifest and every blob uploaded, within limits:
  // the submitter's where given, else the server's) and queues the run.
  // `who` is recorded as Run.submitted_by and in the audit. The values of secret
  // variables (common/secret_names.h) are kept apart (run_secrets): every read shows "***".
  absl::StatusOr<runyard::v1::Run> Submit(runyard::v1::RunSpec spec,
                                          const runyard::v1::SnapshotLimits& limits = {},
                                          const Identity& who = Identity::Local());
  runyard::v1::SnapshotLimits DefaultSnapshotLimits() const;
  absl::StatusOr<runyard::v1::Run> Get(const std::string& run_id);
  absl::StatusOr<bool> RunExists(const std::string& run_id);
  absl::StatusOr<std::vector<runyard::v1::Run>> List(const std::string& experiment, int limit);
  // With every filter of ListRunsRequest (tags, properties, status, parent, archived).
  absl::StatusOr<std::vector<runyard::v1::Run>> List(const runyard::v1::ListRunsRequest& request);
  // `who` is recorded as Run.canceled_by and in the audit.
  absl::StatusOr<runyard::v1::Run> Cancel(const std::string& run_id,
                                          const Identity& who = Identity::Local());
  // Runs by target and status (/metrics); an error when the store does not answer.
  absl::StatusOr<std::vector<RunCount>> CountRuns();

  // Streams a run to a watcher (`runyard logs -f`, `runyard run`): an event with the run
  // first and on every change of its status or history, then the bytes of its
  // user_logs/std_log.txt from `log_offset` on, in events of at most 1 MiB. The log bytes
  // of a round follow its status, so once a terminal status was sent the log is whole:
  // the watch ends when the run has ended and every byte was sent. It ends early when
  // `emit` returns false or `cancelled()` true (asked at least every watch_recheck).
  // Returns the run as last read. Defined in server/run_watch.cc.
  absl::StatusOr<runyard::v1::Run> Watch(
      const std::string& run_id, int64_t log_offset,
      const std::function<bool(const runyard::v1::WatchEvent&)>& emit,
      const std::function<bool()>& cancelled = [] { return false; });
  // The same for WatchRequest: its log_path (a file under user_logs/, such as a rank's
  // user_logs/std_log_process_<rank>.txt) is streamed instead of std_log.txt when set;
  // InvalidArgument for a path outside user_logs/.
  absl::StatusOr<runyard::v1::Run> Watch(
      const runyard::v1::WatchRequest& request,
      const std::function<bool(const runyard::v1::WatchEvent&)>& emit,
      const std::function<bool()>& cancelled = [] { return false; });

  // ---- the in-run API's history (server/control_plane_run_api.cc)
  // Metric summaries and values (GetMetricsRequest in services.proto); NotFound for an
  // unknown run.
  absl::StatusOr<runyard::v1::GetMetricsResponse> GetMetrics(
      const runyard::v1::GetMetricsRequest& request);
  // `runyard tag`: the run with its tags as they are now.
  absl::StatusOr<runyard::v1::Run> SetTags(const runyard::v1::SetTagsRequest& request);
  absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>> ListExperiments(bool include_archived);
  absl::StatusOr<runyard::v1::ExperimentInfo> SetExperimentArchived(const std::string& name,
                                                                    bool archived);

  // ---- run files (server/run_file_reads.cc)
  // The files of a run's history with their sizes; NotFound for an unknown run.
  absl::StatusOr<std::vector<runyard::v1::FileInfo>> ListFiles(const std::string& run_id);
  // A run file's bytes from `offset` on, in chunks of at most 1 MiB, up to the file's size
  // when the read began (each chunk carries it as total_size); a file that exists gets at
  // least one chunk, empty past its end. NotFound when there is no such file; `emit`
  // returning false stops the read (and it returns OK).
  absl::Status ReadFile(const std::string& run_id, const std::string& path, int64_t offset,
                        const std::function<bool(const runyard::v1::FileChunk&)>& emit);

  // ---- blob store (server/control_plane_cas.cc)
  // Those of `digests` that are not stored; InvalidArgument for one that is no SHA-256.
  absl::StatusOr<std::vector<std::string>> FindMissingBlobs(
      const std::vector<std::string>& digests);
  // Stores a whole blob; its bytes must hash to `digest` (DataLoss when they do not). A
  // blob already stored is kept as it is.
  absl::Status PutBlob(const std::string& digest, std::string_view bytes);
  // The same from a file, streamed (local mode's large files). Not resumable on purpose:
  // each call writes its own temporary file, so CLI processes sharing a local store never
  // append to one partial file (the resumable path's guard is per process).
  // `on_progress` gets the bytes of each piece stored.
  absl::Status PutBlobFile(const std::string& digest, const std::filesystem::path& file,
                           const std::function<void(int64_t)>& on_progress);
  // Where a resumable upload of `digest` stands: complete, or the bytes already received.
  absl::StatusOr<runyard::v1::GetUploadOffsetResponse> BlobUploadOffset(const std::string& digest);
  // Starts (or resumes) an upload of `digest` whose first bytes are at `offset`, which
  // must be what BlobUploadOffset said (else OutOfRange). Aborted while another upload
  // of the same blob is open.
  absl::StatusOr<std::unique_ptr<BlobUploads::Upload>> StartBlobUpload(const std::string& digest,
                                                                       int64_t offset);
  // Streams stored blobs one after the other in chunks of at most 1 MiB (digest, the
  // blob's size, offset, bytes; an empty blob is one empty chunk). NotFound, before
  // anything is sent, when one is not stored; `emit` returning false stops it.
  absl::Status ReadBlobs(const std::vector<std::string>& digests,
                         const std::function<bool(const runyard::v1::BlobChunk&)>& emit);

  // ---- agents
  // Registered with a join token (`who`), the response carries the agent's own token
  // (agent_token), bound to its pool and name. CheckRegister must have passed.
  absl::StatusOr<runyard::v1::RegisterResponse> Register(
      const runyard::v1::RegisterRequest& request, const Identity& who = Identity::Local());
  // `client_gone` is asked now and then while waiting (a dropped connection ends the wait).
  absl::StatusOr<runyard::v1::PollResponse> Poll(const runyard::v1::PollRequest& request,
                                                 const std::function<bool()>& client_gone);
  absl::StatusOr<runyard::v1::UpdateStatusResponse> UpdateStatus(
      const runyard::v1::UpdateStatusRequest& request);
  absl::StatusOr<runyard::v1::AppendResponse> Append(const runyard::v1::AppendRequest& request);
  // Appends and statuses in order, each as Append / UpdateStatus, until one is refused
  // (ReportRequest in services.proto). `appended_bytes`: bytes of the appends applied.
  runyard::v1::ReportResponse Report(const runyard::v1::ReportRequest& request,
                                     int64_t* appended_bytes = nullptr);
  // The agents of `pool` (every pool when empty) with their state, runs and capabilities;
  // offline ones only with `include_offline` (states: AgentState in services.proto).
  // Defined in server/agent_listing.cc.
  absl::StatusOr<std::vector<runyard::v1::AgentInfo>> ListAgents(const std::string& pool,
                                                                 bool include_offline);

  // Ends a run whose holder is known to be gone: Failed / AgentLost with `message`.
  absl::Status FailLostRun(const std::string& run_id, const std::string& message);

  // Local mode: the calling process itself holds the run, as an agent would.
  absl::StatusOr<runyard::v1::Lease> LeaseToSelf(const std::string& run_id,
                                                 const std::string& holder);
  // The spec the holder of `lease` runs: the stored one with its secret values back
  // (what an Assignment carries). FailedPrecondition when the lease is not current.
  absl::StatusOr<runyard::v1::RunSpec> HeldRunSpec(const runyard::v1::Lease& lease);

  // ---- access: tokens, checks, audit (server/control_plane_access.cc)
  // Who presents `bearer_token` (the token string; a leading "Bearer " is taken too).
  // Unauthenticated, naming why, for no token, a malformed or unknown one, a wrong secret,
  // a revoked or an expired one. Never logs the token.
  absl::StatusOr<Identity> Authenticate(std::string_view bearer_token);
  // Agents.Register: a join token registers agents of its pool (any pool when its pool
  // is ""); an agent token registers again only its own pool and name.
  absl::Status CheckRegister(const Identity& who, const runyard::v1::RegisterRequest& request);
  // Agents.Poll: `agent_id` must be an agent registered under this agent token.
  absl::Status CheckAgent(const Identity& who, const std::string& agent_id);
  // UpdateStatus / Append / Report: an agent token must be the current holder's (the run's
  // lease or the node's); a run token must be the lease's run.
  absl::Status CheckLeaseHolder(const Identity& who, const runyard::v1::Lease& lease);
  // Mints a USER (with a role) or JOIN (for a pool, "" = any) token; the response carries
  // the whole token, which is never stored.
  absl::StatusOr<runyard::v1::CreateTokenResponse> CreateToken(
      const Identity& by, const runyard::v1::CreateTokenRequest& request);
  absl::StatusOr<runyard::v1::ListTokensResponse> ListTokens(
      const runyard::v1::ListTokensRequest& request);
  // Revoking an agent token ends its agents' active runs Failed / AgentLost; a join
  // token stops new registrations only.
  absl::StatusOr<runyard::v1::TokenInfo> RevokeToken(const Identity& by,
                                                     const std::string& token_id);
  runyard::v1::TokenInfo WhoAmI(const Identity& who);
  // A failed write is logged: the audit never fails the request it records.
  void RecordAudit(const Identity& who, std::string action, std::string target,
                   std::string detail);
  absl::StatusOr<runyard::v1::ListAuditResponse> ListAudit(
      const runyard::v1::ListAuditRequest& request);
  // When no unrevoked admin user token exists, mints one ("bootstrap admin") and writes
  // it to `token_file` (0600, never over an existing file); logs the path only.
  absl::Status EnsureBootstrapAdmin(const std::filesystem::path& token_file);

  // ---- watchers: a counter that grows with every change to any run or run file.
  uint64_t Version();
  // Returns when Version() != seen or at `deadline`, whichever is first.
  void WaitForChange(uint64_t seen, std::chrono::steady_clock::time_point deadline);

 private:
  struct Waiter {
    std::string agent_id;
    int free_slots = 0;
    std::vector<std::string> assigned;  // runs handed to it while it waited
    // Of those, the nodes of distributed runs: the node's lease and the gang's placement
    // (the spec is added when the poll answers).
    std::map<std::string, runyard::v1::Assignment> gang;
    // A distributed run at the head of the pool's queue waits for this agent (and others):
    // it gets no other run meanwhile.
    std::string reserved_for;
    // The run tokens of the single runs in `assigned`, by run (a node's is in `gang`).
    std::map<std::string, std::string> run_tokens;
    // Why its token was revoked while it waited: the poll ends refused, with nothing new.
    std::string cut_off;

    int FreeSlots() const { return free_slots - static_cast<int>(assigned.size()); }
  };

  // What dispatch needs to know of a queued run.
  struct RunShape {
    bool gang = false;  // a distributed run: handed out to `nodes` agents at once
    int nodes = 1;
    int ports = 0;
    int64_t max_run_seconds = 0;  // the spec's (0: the default); its run tokens' lifetime
  };
  // A new token (its record, not yet stored) and the whole token string, shown once.
  struct MintedToken {
    TokenRecord record;
    std::string token;
  };
  // What a node's report did to its run (ApplyNodeReport).
  struct NodeReportOutcome {
    bool stop = false;  // the node must stop: the run is canceled or another node failed
    bool run_ended = false;
    runyard::v1::RunStatus run_status = runyard::v1::RUN_STATUS_UNSPECIFIED;
    std::string run_error_code;
  };

  absl::Status CheckSnapshot(const std::string& snapshot_id,
                             const runyard::v1::SnapshotLimits& limits);
  // Records `status` now in `store` (the plane's store, or a transaction on it). A terminal
  // status ends the run's unfinished children with it (EndChildren), in the same `store`.
  absl::Status Transition(Store& store, const std::string& run_id, runyard::v1::RunStatus status);
  // The same at `time_ms` (a child run's statuses carry the time its script logged them).
  absl::Status TransitionAt(Store& store, const std::string& run_id, runyard::v1::RunStatus status,
                            int64_t time_ms);
  // Gives every child of `parent_run_id` not yet ended the parent's terminal `status`
  // (Failed / Canceled with error ParentRunEnded), and so on down.
  absl::Status EndChildren(Store& store, const std::string& parent_run_id,
                           runyard::v1::RunStatus status);
  // A terminal report's status and error: a run that ends Completed after its script
  // asked for Failed / Canceled (run.fail(), run.cancel()) ends as asked.
  absl::Status ApplyRequestedOutcome(Store& store, const std::string& run_id,
                                     runyard::v1::RunStatus* status, runyard::v1::RunError* error);

  // ---- the in-run API's record channel (server/control_plane_run_records.cc; each pass's
  // lines are applied by RecordPass, server/run_record_pass.h)
  // Reads the run's system_logs/run_records.jsonl from where the store says it was read
  // up to, to its last complete line, into history (metrics, tags, properties, children,
  // the outcome the script asked for), exactly once. `runs_changed`: a run's status
  // changed or a run was created (watchers and polls must hear of it).
  // Node k > 0 of a distributed run has a channel of its own
  // (system_logs/node_<k>/run_records.jsonl), read apart from the run's.
  absl::Status IngestRunRecords(const std::string& run_id, int node_rank, bool* runs_changed);
  // One ingestion of a run at a time (a retried append may race the first one).
  std::shared_ptr<std::mutex> IngestLockOf(const std::string& run_id);
  // `run` as it is, or ended AgentLost when its local holder is gone (lost_holder).
  absl::StatusOr<runyard::v1::Run> EndIfHolderGone(runyard::v1::Run run);
  // Leases `run_id` to `agent_id`. With `run_token`, also mints the run token of the
  // hand-out (in the same transaction), valid for the run's duration and an hour.
  absl::StatusOr<runyard::v1::Lease> AssignLocked(const std::string& run_id,
                                                  const std::string& agent_id,
                                                  std::string* run_token = nullptr,
                                                  int64_t max_run_seconds = 0)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  bool MayStillUpload(const runyard::v1::Lease& lease);
  // Checks that `lease` is current: the run's own, or a node's of the run's current attempt
  // (then `node`, when given, gets that node) that has not ended.
  absl::Status CheckLease(Store& store, const runyard::v1::Lease& lease, LeaseRecord* current,
                          std::optional<GangNodeRecord>* node = nullptr);
  // Moves the lease's expiry to now + lease_duration; a failure is logged (the next
  // renewal tries again, and until then the run may look NotResponding).
  void RenewLease(const std::string& run_id, const std::string& holder);
  void RecordPoll(const runyard::v1::PollRequest& request);
  void DispatchLocked(const std::string& pool) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  // ---- distributed runs (server/control_plane_gang.cc, control_plane_gang_reaper.cc)
  absl::StatusOr<RunShape> ShapeOfLocked(const std::string& run_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Hands `run_id` to `nodes` (one node each, node rank in order) in one transaction:
  // the run's lease gets the attempt's fencing token, each node a lease of its own, the
  // attempt a port range. ResourceExhausted when no port range is free.
  absl::Status PlaceGangLocked(const std::string& pool, const std::string& run_id,
                               const RunShape& shape, const std::vector<Waiter*>& nodes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // The run's status_detail (a queued distributed run's wait), if any.
  void AddStatusDetail(runyard::v1::Run* run);
  // A node's UpdateStatus, inside the report's transaction.
  absl::Status ApplyNodeReport(Store& txn, const runyard::v1::UpdateStatusRequest& request,
                               const LeaseRecord& run, GangNodeRecord node,
                               NodeReportOutcome* outcome);
  // Ends a run whose nodes have all ended with their aggregate (ranks' first failure).
  absl::Status EndGang(Store& txn, const LeaseRecord& run, const std::vector<GangNodeRecord>& nodes,
                       NodeReportOutcome* outcome);
  // A local run's terminal report with ranks: its nodes, recorded from them.
  absl::Status RecordLocalNodes(Store& txn, const LeaseRecord& run,
                                const runyard::v1::UpdateStatusRequest& request,
                                runyard::v1::RunStatus status, const runyard::v1::RunError& error);
  // Whether a held node lease must stop now (canceled, another node failed) or is lost.
  absl::StatusOr<bool> NodeMustStop(const std::string& run_id);
  bool NodeLeaseLost(const runyard::v1::Lease& lease);
  // Whether the node this lease names ended by its own terminal report (not by its lease
  // expiring): its agent finishes the run by itself, so it is told neither lost nor cancel.
  bool NodeReportedItsEnd(const runyard::v1::Lease& lease);
  // Stops the attempt with fencing token `token` (its nodes lose their leases) and queues
  // the run again, not before `retry_at_ms`; or, when `may_fail` and the run was handed out
  // gang_max_attempts times, ends it Failed / GangStartTimeout with `why`. False when the
  // attempt had changed meanwhile.
  absl::StatusOr<bool> EndGangAttemptLocked(const std::string& run_id, int64_t token,
                                            bool may_fail, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // The reaper's pass over distributed runs: lost nodes, start deadlines. `gang_runs` gets
  // every run with nodes (the single-run pass leaves them alone); false when the nodes
  // cannot be read (the pass then does nothing).
  bool ReapGangsLocked(int64_t now, std::set<std::string>* gang_runs, bool* changed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // A run changed: wakes polls and watchers.
  void ChangedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // A run file grew: wakes watchers only.
  void FileChangedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void ReapExpiredLeasesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Writes Failed / AgentLost with `message` into `store` (a transaction on the plane's
  // store).
  absl::Status RecordLost(Store& store, const std::string& run_id, const std::string& message);
  // A run handed out but not started goes back to its pool's queue.
  // True when it was queued again; false when the lease changed since `lease` was read.
  absl::StatusOr<bool> RequeueLocked(const LeaseRecord& lease)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Runs `change` in a transaction if the run's lease is still `seen` (holder, status,
  // expiry); whether it ran.
  absl::StatusOr<bool> IfLeaseUnchanged(const LeaseRecord& seen,
                                        const std::function<absl::Status(Store& txn)>& change);
  bool Stopping();

  // ---- access (server/control_plane_access.cc)
  MintedToken MintToken(runyard::v1::TokenKind kind, std::string name, std::string created_by,
                        int64_t expires_ms);
  // A TOKEN_KIND_RUN token for a hand-out of `run_id` now, to `agent_id`.
  MintedToken MintRunToken(const std::string& run_id, const std::string& agent_id,
                           int64_t max_run_seconds);
  AuditRecord AuditOf(const Identity& who, std::string action, std::string target,
                      std::string detail);
  // Puts the values of the run's secret variables back into `spec` (the stored one has
  // them masked); reads the store only when the spec has secret variables.
  absl::Status RevealSecrets(const std::string& run_id, runyard::v1::RunSpec* spec);
  // Revoking agent token `token` (server/control_plane_leases.cc): its agents' waiting
  // polls end, and every run they hold ends Failed / AgentLost and loses its lease.
  absl::Status CutOffAgentLocked(const TokenRecord& token, const Identity& by)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Deletes expired run tokens, at most once a minute (the reaper's pass).
  void PurgeExpiredRunTokensLocked(int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  Store* store_;
  BlobStore* blobs_;
  RunFiles* files_;
  ControlPlaneOptions options_;
  common::Clock* clock_;
  BlobUploads uploads_;

  std::mutex ingest_locks_mutex_;
  std::map<std::string, std::weak_ptr<std::mutex>> ingest_locks_
      ABSL_GUARDED_BY(ingest_locks_mutex_);

  std::mutex mutex_;
  std::condition_variable changed_;
  std::condition_variable watchers_;
  uint64_t version_ ABSL_GUARDED_BY(mutex_) = 0;
  std::map<std::string, std::vector<Waiter*>> waiters_by_pool_ ABSL_GUARDED_BY(mutex_);
  // Queued runs' shapes, read once (dropped at hand-out).
  std::map<std::string, RunShape> shapes_ ABSL_GUARDED_BY(mutex_);
  // Queued distributed runs' waits: "waiting for nodes: 1 of 2" (Run.status_detail).
  std::map<std::string, std::string> status_details_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  int64_t run_tokens_purged_ms_ ABSL_GUARDED_BY(mutex_) = 0;
  std::thread reaper_;
};

}  // namespace runyard::server
