#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "runtime/blob_cache.h"
#include "runtime/cancel_token.h"
#include "runtime/distributed_launch.h"
#include "runtime/env_builder.h"
#include "runtime/env_cache.h"
#include "runtime/file_sync.h"
#include "runtime/launcher.h"
#include "runtime/observer.h"
#include "runtime/overlay.h"
#include "runtime/records_follower.h"
#include "runtime/run_api_channel.h"
#include "runtime/run_log.h"
#include "runtime/runner.h"
#include "runtime/when_file_appears.h"
#include "runtime/workspace.h"
#include "runyard/v1/spec.pb.h"
#include "sandbox/containment.h"
#include "sandbox/sandbox.h"

namespace runyard::runtime {

// Set: the run ends here, with this outcome. Empty: on to the next stage.
using StageResult = std::optional<RunOutcome>;

// One run as it goes through its stages (Runner::Run calls them in order), and what each
// stage leaves for the next: the workspace, the snapshot's mount and pins, the environment,
// the launch request, the containment and sandbox, how the process ended. Every stage has
// one job; the order the members are declared in is the order they are released in
// reverse (the snapshot's mount before its pins, both before the caches).
class RunStages {
 public:
  RunStages(const RunnerOptions& options, BlobSource* blobs, RunObserver* observer,
            const std::string& run_id, const runyard::v1::RunSpec& spec, CancelToken& cancel,
            const runyard::v1::GangPlacement* placement = nullptr);
  RunStages(const RunStages&) = delete;
  RunStages& operator=(const RunStages&) = delete;

  // Prepare (status Preparing).
  // <work_dir>/runs/<run_id>/{wd,user_logs,system_logs}; NodeError when it cannot be.
  StageResult CreateWorkspace();
  // The snapshot's tree in wd/: SnapshotRejected (hostile) or SnapshotUnavailable.
  StageResult FetchSnapshot();
  // outputs/, logs/, and the run user's home, given to that user; the in-run API's
  // run_api/ folder (run_api_channel.h).
  StageResult PrepareRunFolders();
  // A user-managed interpreter, or a cached or built venv / conda env.
  StageResult PrepareEnvironment();
  // What to execute, with its environment variables.
  StageResult BuildCommandLine();
  // A distributed run: this node's processes, started through runyard-ranks when there
  // are several (distributed_launch.h); nothing for a plain run.
  StageResult PlanDistributedLaunch();
  // A cancel before the start never starts the process.
  StageResult CheckNotCanceled();

  // Launch (status Starting, then Running).
  // The run's cgroup (or process group), written down in the journal.
  void ContainProcesses();
  // Host or bubblewrap (sandbox/sandbox_factory.h); the child's user, /tmp and rlimits.
  void ChooseSandbox();
  // Memory, cpus and pids on the containment.
  void ApplyLimits();
  // The process under its deadline, outputs/ and logs/ mirrored and the in-run API's
  // records followed meanwhile; every record it wrote is reported once it is gone.
  StageResult LaunchAndWait();

  // Finalize (status Finalizing).
  // The last scan of outputs/ and logs/; the snapshot and the caches released.
  void Finalize();
  // How the run ended, and what it used.
  RunOutcome JudgeOutcome();

  // The terminal outcome, logged in runtime.txt and reported once.
  RunOutcome End(RunOutcome outcome);

 private:
  const RunnerOptions& options_;
  BlobSource* blobs_;
  RunObserver* observer_;
  const std::string& run_id_;
  const runyard::v1::RunSpec& spec_;
  CancelToken& cancel_;
  const runyard::v1::GangPlacement* placement_;

  // The node's caches, or private ones in the work dir (without quota) when not given.
  std::optional<BlobCache> own_cache_;
  BlobCache* cache_;
  std::optional<EnvironmentCache> own_environments_;
  EnvironmentCache* environments_;

  std::optional<Workspace> workspace_;
  std::optional<RunLog> system_log_;  // system_logs/runtime.txt, once the workspace exists
  std::optional<RunLog> environment_log_;
  RunOutcome::EnvironmentSource environment_source_ = RunOutcome::EnvironmentSource::kNone;
  std::unique_ptr<BlobCache::Pins> snapshot_pins_;  // released when the run is over
  std::unique_ptr<OverlayMount> snapshot_mount_;
  std::filesystem::path home_;  // the run user's home (run_as only)
  std::optional<RunApiChannel> run_api_;
  std::optional<PreparedEnvironment> environment_;
  LaunchRequest request_;
  std::optional<DistributedLaunch> distributed_;
  std::unique_ptr<sandbox::Containment> containment_;
  // The name of its cgroup and of its journal entry: the run id, or <run id>-node<k> for a
  // gang node (two nodes of one run may share a host).
  std::string containment_name_;
  std::unique_ptr<sandbox::Sandbox> sandbox_;
  std::optional<DirectorySync> sync_;
  std::unique_ptr<RecordsFollower> records_;  // while the process runs
  LaunchResult result_;
  sandbox::Containment::Usage usage_;
};

}  // namespace runyard::runtime
