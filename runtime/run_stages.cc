#include "runtime/run_stages.h"

#include <string.h>
#include <unistd.h>

#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/distributed_config.h"
#include "common/ids.h"
#include "common/run_error_code.h"
#include "common/spec_yaml.h"
#include "runtime/command_line.h"
#include "runtime/run_outcome.h"
#include "runtime/snapshot_stage.h"
#include "runtime/sync_loop.h"
#include "sandbox/sandbox_factory.h"

namespace runyard::runtime {
namespace fs = std::filesystem;
using common::RunErrorCode;

namespace {

// Hands folders (recursively) to the run's user.
absl::Status GiveTo(const sandbox::RunAs& user, const std::vector<fs::path>& folders) {
  for (const auto& folder : folders) {
    if (::lchown(folder.c_str(), user.uid, user.gid) != 0) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot give ", folder.string(), " to ", user.name, ": ", strerror(errno)));
    }
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(folder, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (::lchown(it->path().c_str(), user.uid, user.gid) != 0) {
        return absl::PermissionDeniedError(
            absl::StrCat("cannot give ", it->path().string(), " to ", user.name));
      }
    }
  }
  return absl::OkStatus();
}

// The run's own folders, which its sandbox leaves usable: its working directory and home
// writable, its managed environment readable even where the agent's work dir is hidden.
// The in-run API's folder is writable (the script appends its records there) and the SDK's
// folder readable. A distributed node's supervisor (runyard-ranks) writes its result and
// the rank logs in its own folder, and its binary is readable.
sandbox::RunFolders RunFoldersOf(const Workspace& workspace, const fs::path& home,
                                 const std::map<std::string, std::string>& environment_variables,
                                 const std::optional<RunApiChannel>& run_api,
                                 const fs::path& sdk_python_dir,
                                 const std::optional<DistributedLaunch>& distributed) {
  sandbox::RunFolders folders;
  folders.writable.push_back(workspace.working_dir);
  if (!home.empty()) folders.writable.push_back(home);
  if (run_api) folders.writable.push_back(run_api->dir);
  if (!sdk_python_dir.empty()) folders.readable.push_back(sdk_python_dir);
  if (distributed && distributed->uses_folder()) {
    folders.writable.push_back(distributed->folder());
    folders.readable.push_back(distributed->ranks_binary().parent_path());
  }
  for (const char* prefix : {"VIRTUAL_ENV", "CONDA_PREFIX"}) {
    if (auto it = environment_variables.find(prefix);
        it != environment_variables.end() && !it->second.empty()) {
      folders.readable.push_back(it->second);
    }
  }
  return folders;
}

}  // namespace

RunStages::RunStages(const RunnerOptions& options, BlobSource* blobs, RunObserver* observer,
                     const std::string& run_id, const runyard::v1::RunSpec& spec,
                     CancelToken& cancel, const runyard::v1::GangPlacement* placement)
    : options_(options),
      blobs_(blobs),
      observer_(observer),
      run_id_(run_id),
      spec_(spec),
      cancel_(cancel),
      placement_(placement) {
  cache_ = options_.cache ? options_.cache : &own_cache_.emplace(options_.work_dir / "cas", 0);
  environments_ = options_.environments ? options_.environments
                                        : &own_environments_.emplace(options_.work_dir / "envs", 0);
}

StageResult RunStages::CreateWorkspace() {
  absl::StatusOr<Workspace> workspace = runtime::CreateWorkspace(options_.work_dir, run_id_);
  if (!workspace.ok()) {
    return Failure(runyard::v1::FAILED, RunErrorCode::kNodeError,
                   std::string(workspace.status().message()));
  }
  workspace_ = std::move(*workspace);
  system_log_.emplace(workspace_->system_logs / "runtime.txt", "system_logs/runtime.txt",
                      observer_);
  system_log_->Line(absl::StrCat("preparing run ", run_id_, " in ", workspace_->root.string()));
  return std::nullopt;
}

StageResult RunStages::FetchSnapshot() {
  if (spec_.snapshot_id().empty()) return std::nullopt;
  // A run under another user gets copies it owns; an overlay's lower files stay root's.
  const Materialization materialization =
      options_.run_as ? Materialization::kCopy : options_.materialization;
  absl::StatusOr<SnapshotReport> snapshot =
      PrepareSnapshot(spec_.snapshot_id(), *cache_, *blobs_, *workspace_, materialization);
  if (!snapshot.ok()) {
    if (absl::IsFailedPrecondition(snapshot.status())) {  // hostile
      return Failure(runyard::v1::FAILED, RunErrorCode::kSnapshotRejected,
                     std::string(snapshot.status().message()));
    }
    return Failure(runyard::v1::FAILED, RunErrorCode::kSnapshotUnavailable,
                   absl::StrCat("cannot fetch snapshot: ", snapshot.status().message()));
  }
  system_log_->Line(absl::StrCat(
      "snapshot ", spec_.snapshot_id(), ": ", snapshot->files, " files, ", snapshot->bytes,
      " bytes; fetched ", snapshot->fetched.blobs, " blobs (", snapshot->fetched.bytes,
      " bytes) in ", snapshot->fetch_time.count(), " ms, ",
      snapshot->blobs + 1 - snapshot->fetched.blobs, " from the node cache; materialized in ",
      snapshot->materialize_time.count(), " ms",
      snapshot->overlay ? " (overlay on hardlinks)" : " (copies)",
      snapshot->overlay_failure.empty() ? "" : "; no overlay: " + snapshot->overlay_failure));
  snapshot_pins_ = std::move(snapshot->pins);
  snapshot_mount_ = std::move(snapshot->mount);
  return std::nullopt;
}

StageResult RunStages::PrepareRunFolders() {
  std::error_code ec;
  fs::create_directories(workspace_->outputs(), ec);
  fs::create_directories(workspace_->logs(), ec);
  absl::StatusOr<RunApiChannel> run_api = CreateRunApiChannel(
      *workspace_, run_id_, spec_, options_.run_api_limits, options_.run_as);
  if (!run_api.ok()) {
    return Failure(runyard::v1::FAILED, RunErrorCode::kNodeError,
                   absl::StrCat("in-run API: ", run_api.status().message()));
  }
  run_api_ = std::move(*run_api);
  if (!options_.run_as) return std::nullopt;
  home_ = workspace_->root / "home";
  fs::create_directories(home_, ec);
  if (absl::Status given = GiveTo(*options_.run_as, {workspace_->working_dir, home_});
      !given.ok()) {
    return Failure(runyard::v1::FAILED, RunErrorCode::kNodeError, std::string(given.message()));
  }
  system_log_->Line(
      absl::StrCat("runs as user ", options_.run_as->name, " (uid ", options_.run_as->uid, ")"));
  return std::nullopt;
}

StageResult RunStages::PrepareEnvironment() {
  environment_log_.emplace(workspace_->system_logs / "environment.txt",
                           "system_logs/environment.txt", observer_);
  absl::StatusOr<PreparedEnvironment> environment =
      runtime::PrepareEnvironment(spec_, workspace_->working_dir, *environments_,
                                  options_.environment_settings, cancel_, *environment_log_);
  if (!environment.ok()) {
    if (absl::IsCancelled(environment.status())) {
      return Failure(runyard::v1::CANCELED, RunErrorCode::kCanceled,
                     "the run was canceled while its environment was prepared");
    }
    return Failure(runyard::v1::FAILED, RunErrorCode::kEnvironmentBuildFailed,
                   std::string(environment.status().message()));
  }
  environment_ = std::move(*environment);
  if (environment_->kind != EnvironmentKind::kUserManaged) {
    environment_source_ = environment_->reused ? RunOutcome::EnvironmentSource::kCacheHit
                                               : RunOutcome::EnvironmentSource::kBuilt;
  }
  if (!environment_->packages.empty()) {
    RunLog packages(workspace_->system_logs / "resolved_packages.txt",
                    "system_logs/resolved_packages.txt", observer_);
    packages.Write(environment_->packages);
  }
  return std::nullopt;
}

StageResult RunStages::BuildCommandLine() {
  std::map<std::string, std::string> variables = BuildEnvironment(
      spec_, run_id_, workspace_->working_dir, options_.clean_environment,
      options_.run_as ? options_.run_as->name : "", options_.run_as ? home_ : fs::path());
  for (const auto& [name, value] : environment_->variables) variables[name] = value;
  AddRunApiEnvironment(spec_, run_api_->dir, options_.sdk_python_dir, variables);
  absl::StatusOr<CommandLine> command = runtime::BuildCommandLine(
      spec_, workspace_->working_dir, variables["PATH"], environment_->interpreter);
  if (!command.ok()) {
    const bool environment_problem = absl::IsFailedPrecondition(command.status());
    return Failure(
        runyard::v1::FAILED,
        environment_problem ? RunErrorCode::kEnvironmentBuildFailed : RunErrorCode::kUserError,
        std::string(command.status().message()));
  }
  if (environment_->kind == EnvironmentKind::kUserManaged) {
    environment_log_->Line("user-managed interpreter: " + command->executable.string());
  }
  request_.executable = command->executable;
  request_.arguments = command->arguments;
  request_.working_dir = workspace_->working_dir;
  request_.environment = std::move(variables);
  return std::nullopt;
}

StageResult RunStages::PlanDistributedLaunch() {
  if (!common::IsDistributed(spec_)) return std::nullopt;
  DistributedLaunchOptions launch;
  launch.ranks_binary = options_.ranks_binary;
  launch.network_interface = options_.network_interface;
  // The ranks are stopped well within the runner's own grace, which then finds them gone.
  launch.rank_kill_grace = std::min<std::chrono::milliseconds>(std::chrono::seconds(10),
                                                               options_.kill_grace / 2);
  launch.run_as = options_.run_as;
  absl::StatusOr<DistributedLaunch> distributed =
      DistributedLaunch::Prepare(spec_, placement_, workspace_->root, launch, request_);
  if (!distributed.ok()) {
    return Failure(runyard::v1::FAILED,
                   absl::IsFailedPrecondition(distributed.status()) &&
                           common::DistributedKind(spec_) == "mpi"
                       ? RunErrorCode::kEnvironmentBuildFailed
                       : RunErrorCode::kNodeError,
                   std::string(distributed.status().message()));
  }
  distributed_ = std::move(*distributed);
  system_log_->Line(distributed_->description());
  return std::nullopt;
}

StageResult RunStages::CheckNotCanceled() {
  if (!cancel_.requested()) return std::nullopt;
  return Failure(runyard::v1::CANCELED, RunErrorCode::kCanceled,
                 "the run was canceled before it started");
}

void RunStages::ContainProcesses() {
  // Every process of the run carries its tag, the last resort of the process-group mode.
  const std::string tag = run_id_ + "-" + common::RandomHex(6);
  request_.environment[sandbox::kRunTagVariable] = tag;
  containment_name_ = placement_ != nullptr
                          ? absl::StrCat(run_id_, "-node", placement_->node_rank())
                          : run_id_;
  if (options_.containment != nullptr) {
    // A gang's nodes may share a host (and the cgroup parent): each node its own cgroup,
    // or the first node to end would kill the others' processes with its own.
    absl::StatusOr<std::unique_ptr<sandbox::Containment>> made =
        options_.containment->ForRun(containment_name_, tag);
    if (made.ok()) {
      containment_ = std::move(*made);
    } else {
      system_log_->Line("cannot contain the run in its cgroup (" +
                        std::string(made.status().message()) + "): process group only");
    }
  }
  request_.containment = containment_.get();
  if (containment_ && options_.journal != nullptr) {
    if (absl::Status recorded = options_.journal->Record(containment_name_, *containment_, tag);
        !recorded.ok()) {
      system_log_->Line(
          "cannot write the run's containment down (" + std::string(recorded.message()) +
          "): if the agent is killed, its processes are not cleaned up at the next start");
    }
  }
}

void RunStages::ChooseSandbox() {
  sandbox_ = sandbox::SandboxForRun(
      options_.bubblewrap,
      RunFoldersOf(*workspace_, options_.run_as ? home_ : fs::path(), environment_->variables,
                   run_api_, options_.sdk_python_dir, distributed_));
  request_.sandbox = sandbox_.get();
  if (const std::string description = sandbox_->Description(); !description.empty()) {
    system_log_->Line(description);
  }
  request_.restrictions.run_as = options_.run_as;
  // A sandbox with a /tmp of its own needs no private one.
  request_.restrictions.private_tmp = options_.private_tmp && !sandbox_->GivesPrivateTmp();
  request_.restrictions.max_open_files = options_.max_open_files;
}

void RunStages::ApplyLimits() {
  sandbox::Containment::Limits limits;
  limits.memory_bytes = spec_.resources().memory_mb() * 1024 * 1024;
  limits.cpus = spec_.resources().cpus();
  limits.pids = options_.pids_limit;
  const bool wants_limits = limits.memory_bytes > 0 || limits.cpus > 0 || limits.pids > 0;
  if (wants_limits) {
    absl::Status applied = containment_ ? containment_->ApplyLimits(limits)
                                        : absl::UnimplementedError("the run has no cgroup");
    system_log_->Line(applied.ok()
                          ? absl::StrCat("limits: memory ", limits.memory_bytes, " bytes, cpus ",
                                         limits.cpus, ", pids ", limits.pids)
                          : "limits NOT enforced: " + std::string(applied.message()));
  }
  system_log_->Line("processes contained by " + (containment_
                                                     ? sandbox::ModeName(containment_->mode())
                                                     : std::string("process group")));
}

StageResult RunStages::LaunchAndWait() {
  const int64_t max_seconds = spec_.max_run_duration_seconds() > 0
                                  ? spec_.max_run_duration_seconds()
                                  : common::kDefaultMaxRunDurationSeconds;
  request_.max_duration = std::chrono::seconds(max_seconds);
  request_.kill_grace = options_.kill_grace;
  system_log_->Line(absl::StrCat("starting: ", request_.executable.string(), " ",
                                 absl::StrJoin(request_.arguments, " ")));

  // The script's output goes straight to user_logs/std_log.txt; the launcher follows the
  // file and reports where it grew. The file keeps the bytes, so the observer reads them
  // when it sends them: heavy output is not copied on the node while the script runs.
  request_.output_file = workspace_->user_logs / "std_log.txt";
  request_.max_output_bytes = options_.max_log_bytes;
  request_.on_output_range = [this](int64_t offset, int64_t length) {
    observer_->OnFileRange("user_logs/std_log.txt", request_.output_file, offset, length);
  };
  auto report_output = [](std::string_view) {};  // pipe mode only
  std::vector<std::pair<fs::path, std::string>> mirrored = {{workspace_->outputs(), "outputs"},
                                                            {workspace_->logs(), "logs"}};
  std::vector<fs::path> watched = {workspace_->outputs(), workspace_->logs()};
  if (distributed_ && distributed_->uses_folder()) {  // the rank logs, live
    mirrored.emplace_back(distributed_->logs_dir(), "user_logs");
    watched.push_back(distributed_->logs_dir());
  }
  sync_.emplace(std::move(mirrored), observer_);
  // Records the script appends reach the spool a few ms after each write.
  RecordsFollower::Options follow;
  follow.max_bytes = options_.run_api_limits.max_records_bytes;
  follow.on_limit = [this](const std::string& line) { system_log_->Line(line); };
  absl::StatusOr<std::unique_ptr<RecordsFollower>> records = RecordsFollower::Start(
      run_api_->records, run_api_->committed, kRunRecordsHistoryPath, observer_, std::move(follow));
  if (!records.ok()) {
    return Failure(runyard::v1::FAILED, RunErrorCode::kNodeError,
                   absl::StrCat("in-run API: ", records.status().message()));
  }
  records_ = std::move(*records);
  {
    SyncLoop sync_loop(&*sync_, watched, options_.sync_interval);
    // Running once the process started; under runyard-ranks, once every rank did, or once
    // an MPI node k > 0 listens for node 0 (it creates its started file then).
    const bool started_by_file = distributed_ && distributed_->reports_started_file();
    std::optional<WhenFileAppears> ranks_started;
    if (started_by_file) {
      ranks_started.emplace(distributed_->started_file(), [this] {
        system_log_->Line(distributed_->supervised() ? "every process of this node started"
                                                     : "listening for node 0's mpirun");
        observer_->OnStatus(runyard::v1::RUNNING);
      });
    }
    result_ = runtime::LaunchAndWait(
        request_, report_output, cancel_,
        [this, started_by_file](pid_t pid) {
          system_log_->Line(absl::StrCat("started process ", pid));
          if (!started_by_file) observer_->OnStatus(runyard::v1::RUNNING);
        },
        [this](const std::string& event) { system_log_->Line(event); });
    if (ranks_started) ranks_started->Stop();
  }
  // Every process of the run is gone: what it wrote last goes in before the outcome.
  records_->Finish();
  if (containment_) usage_ = containment_->ReadUsage();
  if (containment_ && options_.journal != nullptr)
    options_.journal->Forget(containment_name_);  // nothing of it is left
  if (!result_.started) {
    return Failure(
        runyard::v1::FAILED, RunErrorCode::kUserError,
        absl::StrCat("cannot start ", request_.executable.string(), ": ", result_.start_error));
  }
  system_log_->Line(result_.exited
                        ? absl::StrCat("process exited with code ", result_.exit_code)
                        : absl::StrCat("process killed by signal ", result_.term_signal));
  if (result_.output_dropped_bytes > 0) {
    system_log_->Line(absl::StrCat("user_logs/std_log.txt was cut at ", options_.max_log_bytes,
                                   " bytes (max_log_bytes); ", result_.output_dropped_bytes,
                                   " bytes of output dropped"));
  }
  return std::nullopt;
}

void RunStages::Finalize() {
  // Outputs and logs written before the end (or the kill) still reach run history.
  sync_->Scan(/*final_scan=*/true);
  snapshot_mount_.reset();  // wd/ becomes what the run wrote
  snapshot_pins_.reset();
  environment_->in_use.reset();
  if (const int64_t freed = environments_->EvictToQuota(); freed > 0) {
    system_log_->Line(absl::StrCat("environment cache over quota: evicted ", freed, " bytes"));
  }
  if (const int64_t freed = cache_->EvictToQuota(); freed > 0) {
    system_log_->Line(absl::StrCat("node cache over quota: evicted ", freed, " bytes"));
  }
}

RunOutcome RunStages::JudgeOutcome() {
  RunOutcome outcome = JudgeRun(result_, usage_, spec_, cancel_.reason(), sandbox_->name());
  if (distributed_) distributed_->JudgeProcesses(outcome);
  if (outcome.usage.measured()) {
    system_log_->Line(absl::StrCat("used ", usage_.cpu_seconds, " CPU seconds, peak memory ",
                                   usage_.peak_memory_bytes, " bytes"));
  }
  return outcome;
}

RunOutcome RunStages::End(RunOutcome outcome) {
  outcome.environment = environment_source_;
  if (system_log_) {  // none when the workspace could not be created
    system_log_->Line(absl::StrCat(
        "run ended: ", outcome.error.code().empty() ? "Completed" : outcome.error.code(),
        outcome.error.message().empty() ? "" : " — " + outcome.error.message()));
  }
  observer_->OnFinished(outcome);
  return outcome;
}

}  // namespace runyard::runtime
