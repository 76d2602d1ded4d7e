#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "runyard/v1/services.pb.h"
#include "common/snapshot_manifest.h"
#include "server/blob_store.h"
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
};

// The control plane's logic with no transport: queue per pool, dispatch to waiting
// agents, leases with fencing, cancel, run history. runyard-server puts gRPC in front
// of it; the CLI uses it in-process for local runs.
class ControlPlane {
 public:
  ControlPlane(Store* store, BlobStore* blobs, RunFiles* files, ControlPlaneOptions options = {});
  ~ControlPlane();

  // Starts the thread that turns expired leases into NotResponding / AgentLost.
  void StartLeaseReaper();

  // ---- users
  // Checks the spec and its snapshot (manifest and every blob uploaded, within limits:
  // the submitter's where given, else the server's) and queues the run.
  absl::StatusOr<runyard::v1::Run> Submit(runyard::v1::RunSpec spec,
                                          const runyard::v1::SnapshotLimits& limits = {});
  runyard::v1::SnapshotLimits DefaultSnapshotLimits() const;
  absl::StatusOr<runyard::v1::Run> Get(const std::string& run_id);
  absl::StatusOr<std::vector<runyard::v1::Run>> List(const std::string& experiment, int limit);
  absl::StatusOr<runyard::v1::Run> Cancel(const std::string& run_id);

  // ---- agents
  absl::StatusOr<runyard::v1::RegisterResponse> Register(const runyard::v1::RegisterRequest& request);
  // `client_gone` is asked now and then while waiting (a dropped connection ends the wait).
  absl::StatusOr<runyard::v1::PollResponse> Poll(const runyard::v1::PollRequest& request,
                                                 const std::function<bool()>& client_gone);
  absl::StatusOr<runyard::v1::UpdateStatusResponse> UpdateStatus(
      const runyard::v1::UpdateStatusRequest& request);
  absl::StatusOr<runyard::v1::AppendResponse> Append(const runyard::v1::AppendRequest& request);
  // Appends and statuses in order, each as Append / UpdateStatus, until one is refused
  // (ReportRequest in services.proto). `appended_bytes`: bytes of the appends applied.
  runyard::v1::ReportResponse Report(const runyard::v1::ReportRequest& request, int64_t* appended_bytes = nullptr);
  // The agents of `pool` (every pool when empty) with their state, runs and capabilities;
  // offline ones only with `include_offline` (states: AgentState in services.proto).
  // Defined in server/agent_listing.cc.
  absl::StatusOr<std::vector<runyard::v1::AgentInfo>> ListAgents(const std::string& pool, bool include_offline);

  // Ends a run whose holder is known to be gone: Failed / AgentLost with `message`.
  absl::Status FailLostRun(const std::string& run_id, const std::string& message);

  // Local mode: the calling process itself holds the run, as an agent would.
  absl::StatusOr<runyard::v1::Lease> LeaseToSelf(const std::string& run_id, const std::string& holder);

  // ---- watchers: a counter that grows with every change to any run or run file.
  uint64_t Version();
  // Returns when Version() != seen or at `deadline`, whichever is first.
  void WaitForChange(uint64_t seen, std::chrono::steady_clock::time_point deadline);

  Store* store() { return store_; }
  BlobStore* blobs() { return blobs_; }
  RunFiles* files() { return files_; }

 private:
  struct Waiter {
    std::string agent_id;
    int free_slots = 0;
    std::vector<std::string> assigned;  // runs handed to it while it waited
  };

  absl::Status CheckSnapshot(const std::string& snapshot_id, const runyard::v1::SnapshotLimits& limits);
  absl::Status Transition(const std::string& run_id, runyard::v1::RunStatus status);
  absl::StatusOr<runyard::v1::Lease> AssignLocked(const std::string& run_id, const std::string& agent_id);
  bool MayStillUpload(const runyard::v1::Lease& lease);
  absl::Status CheckLease(const runyard::v1::Lease& lease, LeaseRecord* current);
  void DispatchLocked(const std::string& pool);
  void ChangedLocked();      // a run changed: wakes polls and watchers
  void FileChangedLocked();  // a run file grew: wakes watchers only
  void ReapExpiredLeases();
  void FailLostRunLocked(const std::string& run_id, const std::string& message);
  // A run handed out but not started goes back to its pool's queue.
  void RequeueLocked(const LeaseRecord& lease);

  Store* store_;
  BlobStore* blobs_;
  RunFiles* files_;
  ControlPlaneOptions options_;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::condition_variable watchers_;
  uint64_t version_ = 0;
  std::map<std::string, std::vector<Waiter*>> waiters_by_pool_;
  std::map<std::string, std::string> agent_pools_;  // agent id → pool

  bool stopping_ = false;
  std::thread reaper_;
};

}  // namespace runyard::server
