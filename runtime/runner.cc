#include "runtime/runner.h"

#include <signal.h>
#include <unistd.h>
#include <string.h>

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/spec_yaml.h"
#include "common/ids.h"
#include "runtime/blob_cache.h"
#include "runtime/snapshot_stage.h"
#include "runtime/command_line.h"
#include "runtime/file_sync.h"
#include "runtime/launcher.h"
#include "runtime/run_log.h"
#include "runtime/sync_loop.h"
#include "runtime/workspace.h"

namespace runyard::runtime {
namespace fs = std::filesystem;
using runyard::v1::RunStatus;

namespace {

RunOutcome Failure(RunStatus status, const std::string& code, const std::string& message) {
  RunOutcome outcome;
  outcome.status = status;
  outcome.error.set_code(code);
  outcome.error.set_message(message);
  return outcome;
}

// Turns how the process ended into what the user is told.
// The agent's sandbox policy for one run: its working directory (and home) writable, its
// managed environment readable even where the agent's work dir is hidden.
sandbox::BubblewrapPolicy SandboxPolicyFor(sandbox::BubblewrapPolicy policy, const Workspace& workspace,
                                           const fs::path& home,
                                           const std::map<std::string, std::string>& environment_variables) {
  policy.writable.push_back(workspace.working_dir);
  if (!home.empty()) policy.writable.push_back(home);
  for (const char* prefix : {"VIRTUAL_ENV", "CONDA_PREFIX"}) {
    if (auto it = environment_variables.find(prefix); it != environment_variables.end() && !it->second.empty()) {
      policy.readable.push_back(it->second);
    }
  }
  return policy;
}

RunOutcome Judge(const LaunchResult& result, const runyard::v1::RunSpec& spec,
                 CancelToken::Reason cancel_reason) {
  // A process killed by a signal gets the shell's convention, 128 + signal.
  auto with_exit_code = [&](RunOutcome outcome) {
    outcome.has_exit_code = true;
    outcome.exit_code = result.exited ? result.exit_code : 128 + result.term_signal;
    return outcome;
  };
  if (result.deadline_exceeded) {
    return with_exit_code(Failure(runyard::v1::CANCELED, "MaxRunDurationExceeded",
                                  absl::StrCat("the run exceeded max_run_duration_seconds (",
                                               spec.max_run_duration_seconds(), " s) and was stopped")));
  }
  if (result.canceled) {
    return with_exit_code(cancel_reason == CancelToken::Reason::kAgentShutdown
                              ? Failure(runyard::v1::FAILED, "AgentShutdown",
                                        "the agent was shut down while the run was running")
                              : Failure(runyard::v1::CANCELED, "Canceled", "the run was canceled"));
  }
  RunOutcome outcome = with_exit_code(RunOutcome{});
  std::vector<int> success(spec.successful_return_codes().begin(),
                           spec.successful_return_codes().end());
  if (success.empty()) success.push_back(0);
  if (result.exited &&
      std::find(success.begin(), success.end(), result.exit_code) != success.end()) {
    outcome.status = runyard::v1::COMPLETED;
    return outcome;
  }
  outcome.status = runyard::v1::FAILED;
  outcome.error.set_code("UserError");
  if (result.exited) {
    outcome.error.set_message(absl::StrCat("the script exited with code ", result.exit_code,
                                           "; see user_logs/std_log.txt"));
  } else {
    outcome.error.set_message(absl::StrCat("the script was killed by signal ", result.term_signal,
                                           " (", strsignal(result.term_signal),
                                           "); see user_logs/std_log.txt"));
  }
  return outcome;
}

// Hands folders (recursively) to the run's user.
absl::Status GiveTo(const sandbox::RunAs& user, const std::vector<fs::path>& folders) {
  for (const auto& folder : folders) {
    if (::lchown(folder.c_str(), user.uid, user.gid) != 0) {
      return absl::PermissionDeniedError(absl::StrCat("cannot give ", folder.string(), " to ", user.name, ": ",
                                                      strerror(errno)));
    }
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(folder, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (::lchown(it->path().c_str(), user.uid, user.gid) != 0) {
        return absl::PermissionDeniedError(absl::StrCat("cannot give ", it->path().string(), " to ", user.name));
      }
    }
  }
  return absl::OkStatus();
}


}  // namespace

RunOutcome Runner::Run(const std::string& run_id, const runyard::v1::RunSpec& spec,
                       CancelToken& cancel) {
  // Caches not given: private ones in the work dir, without quota.
  std::optional<BlobCache> own_cache;
  BlobCache* cache = options_.cache ? options_.cache : &own_cache.emplace(options_.work_dir / "cas", 0);
  std::optional<EnvironmentCache> own_environments;
  EnvironmentCache* environments =
      options_.environments ? options_.environments : &own_environments.emplace(options_.work_dir / "envs", 0);
  observer_->OnStatus(runyard::v1::PREPARING);
  absl::StatusOr<Workspace> workspace = CreateWorkspace(options_.work_dir, run_id);
  if (!workspace.ok()) {
    RunOutcome outcome = Failure(runyard::v1::FAILED, "NodeError",
                                 std::string(workspace.status().message()));
    observer_->OnFinished(outcome);
    return outcome;
  }
  RunLog system_log(workspace->system_logs / "runtime.txt", "system_logs/runtime.txt", observer_);
  RunOutcome::EnvironmentSource environment_source = RunOutcome::EnvironmentSource::kNone;
  auto finish = [&](RunOutcome outcome) {
    outcome.environment = environment_source;
    system_log.Line(absl::StrCat("run ended: ", outcome.error.code().empty() ? "Completed" : outcome.error.code(),
                                 outcome.error.message().empty() ? "" : " — " + outcome.error.message()));
    observer_->OnFinished(outcome);
    return outcome;
  };

  // Snapshot.
  system_log.Line(absl::StrCat("preparing run ", run_id, " in ", workspace->root.string()));
  std::unique_ptr<BlobCache::Pins> snapshot_pins;  // released when the run is over
  std::unique_ptr<OverlayMount> snapshot_mount;
  if (!spec.snapshot_id().empty()) {
    // A run under another user gets copies it owns; an overlay's lower files stay root's.
    const Materialization materialization = options_.run_as ? Materialization::kCopy : options_.materialization;
    absl::StatusOr<SnapshotReport> snapshot = PrepareSnapshot(spec.snapshot_id(), *cache, *blobs_,
                                                              *workspace, materialization);
    if (!snapshot.ok()) {
      const bool hostile = absl::IsFailedPrecondition(snapshot.status());
      return finish(Failure(runyard::v1::FAILED, hostile ? "SnapshotRejected" : "SnapshotUnavailable",
                            absl::StrCat(hostile ? "" : "cannot fetch snapshot: ",
                                         std::string(snapshot.status().message()))));
    }
    system_log.Line(absl::StrCat("snapshot ", spec.snapshot_id(), ": ", snapshot->files, " files, ",
                                 snapshot->bytes, " bytes; fetched ", snapshot->fetched.blobs, " blobs (",
                                 snapshot->fetched.bytes, " bytes) in ", snapshot->fetch_time.count(),
                                 " ms, ", snapshot->blobs + 1 - snapshot->fetched.blobs,
                                 " from the node cache; materialized in ", snapshot->materialize_time.count(),
                                 " ms", snapshot->overlay ? " (overlay on hardlinks)" : " (copies)",
                                 snapshot->overlay_failure.empty()
                                     ? ""
                                     : "; no overlay: " +
                                           snapshot->overlay_failure));
    snapshot_pins = std::move(snapshot->pins);
    snapshot_mount = std::move(snapshot->mount);
  }
  std::error_code ec;
  fs::create_directories(workspace->outputs(), ec);
  fs::create_directories(workspace->logs(), ec);
  const fs::path home = workspace->root / "home";
  if (options_.run_as) {
    fs::create_directories(home, ec);
    if (absl::Status given = GiveTo(*options_.run_as, {workspace->working_dir, home}); !given.ok()) {
      return finish(Failure(runyard::v1::FAILED, "NodeError", std::string(given.message())));
    }
    system_log.Line(absl::StrCat("runs as user ", options_.run_as->name, " (uid ", options_.run_as->uid, ")"));
  }

  // Environment: a user-managed interpreter, or a cached / newly built venv or conda env.
  RunLog environment_log(workspace->system_logs / "environment.txt", "system_logs/environment.txt", observer_);
  absl::StatusOr<PreparedEnvironment> environment = PrepareEnvironment(
      spec, workspace->working_dir, *environments, options_.environment_settings, cancel, environment_log);
  if (!environment.ok()) {
    if (absl::IsCancelled(environment.status())) {
      return finish(Failure(runyard::v1::CANCELED, "Canceled", "the run was canceled while its environment was prepared"));
    }
    return finish(Failure(runyard::v1::FAILED, "EnvironmentBuildFailed", std::string(environment.status().message())));
  }
  if (environment->kind != EnvironmentKind::kUserManaged) {
    environment_source = environment->reused ? RunOutcome::EnvironmentSource::kCacheHit
                                             : RunOutcome::EnvironmentSource::kBuilt;
  }
  if (!environment->packages.empty()) {
    RunLog packages(workspace->system_logs / "resolved_packages.txt", "system_logs/resolved_packages.txt", observer_);
    packages.Write(environment->packages);
  }
  std::map<std::string, std::string> variables = BuildEnvironment(
      spec, run_id, workspace->working_dir, options_.clean_environment,
      options_.run_as ? options_.run_as->name : "", options_.run_as ? home : fs::path());
  for (const auto& [name, value] : environment->variables) variables[name] = value;

  absl::StatusOr<CommandLine> command =
      BuildCommandLine(spec, workspace->working_dir, variables["PATH"], environment->interpreter);
  if (command.ok() && environment->kind == EnvironmentKind::kUserManaged) {
    environment_log.Line("user-managed interpreter: " + command->executable.string());
  }
  if (!command.ok()) {
    const bool environment_problem = absl::IsFailedPrecondition(command.status());
    return finish(Failure(runyard::v1::FAILED,
                          environment_problem ? "EnvironmentBuildFailed" : "UserError",
                          std::string(command.status().message())));
  }
  if (cancel.requested()) {
    return finish(Failure(runyard::v1::CANCELED, "Canceled", "the run was canceled before it started"));
  }

  // The process itself.
  observer_->OnStatus(runyard::v1::STARTING);
  LaunchRequest request;
  request.executable = command->executable;
  request.arguments = command->arguments;
  request.working_dir = workspace->working_dir;
  request.environment = std::move(variables);
  // Every process of the run carries its tag, the last resort of the process-group mode.
  const std::string tag = run_id + "-" + common::RandomHex(6);
  request.environment[sandbox::kRunTagVariable] = tag;
  std::unique_ptr<sandbox::Containment> containment;
  if (options_.containment != nullptr) {
    absl::StatusOr<std::unique_ptr<sandbox::Containment>> made = options_.containment->ForRun(run_id, tag);
    if (made.ok()) {
      containment = std::move(*made);
    } else {
      system_log.Line("cannot contain the run in its cgroup (" + std::string(made.status().message()) +
                      "): process group only");
    }
  }
  request.containment = containment.get();
  if (containment && options_.journal != nullptr) {
    if (absl::Status recorded = options_.journal->Record(run_id, *containment, tag); !recorded.ok()) {
      system_log.Line("cannot write the run's containment down (" + std::string(recorded.message()) +
                      "): if the agent is killed, its processes are not cleaned up at the next start");
    }
  }
  request.restrictions.run_as = options_.run_as;
  // bubblewrap gives the run a fresh /tmp of its own.
  request.restrictions.private_tmp = options_.private_tmp && !options_.bubblewrap;
  if (options_.bubblewrap) {
    request.bubblewrap = SandboxPolicyFor(*options_.bubblewrap, *workspace, options_.run_as ? home : fs::path(),
                                          environment->variables);
    system_log.Line(absl::StrCat("sandboxed by bubblewrap: system read-only, writable ",
                                 absl::StrJoin(request.bubblewrap->writable, ", ",
                                               [](std::string* out, const fs::path& p) { out->append(p.string()); }),
                                 request.bubblewrap->network ? "" : ", no network"));
  }
  request.restrictions.max_open_files = options_.max_open_files;
  sandbox::Containment::Limits limits;
  limits.memory_bytes = spec.resources().memory_mb() * 1024 * 1024;
  limits.cpus = spec.resources().cpus();
  limits.pids = options_.pids_limit;
  const bool wants_limits = limits.memory_bytes > 0 || limits.cpus > 0 || limits.pids > 0;
  if (wants_limits) {
    absl::Status applied = containment ? containment->ApplyLimits(limits)
                                       : absl::UnimplementedError("the run has no cgroup");
    system_log.Line(applied.ok() ? absl::StrCat("limits: memory ", limits.memory_bytes, " bytes, cpus ", limits.cpus,
                                                 ", pids ", limits.pids)
                                 : "limits NOT enforced: " + std::string(applied.message()));
  }
  system_log.Line("processes contained by " +
                  (containment ? sandbox::ModeName(containment->mode()) : std::string("process group")));
  const int64_t max_seconds = spec.max_run_duration_seconds() > 0
                                  ? spec.max_run_duration_seconds()
                                  : common::kDefaultMaxRunDurationSeconds;
  request.max_duration = std::chrono::seconds(max_seconds);
  request.kill_grace = options_.kill_grace;
  system_log.Line(absl::StrCat("starting: ", request.executable.string(), " ",
                               absl::StrJoin(request.arguments, " ")));

  // The script's output goes straight to user_logs/std_log.txt; the launcher follows the
  // file and reports where it grew. The file keeps the bytes, so the observer reads them
  // when it sends them: heavy output is not copied on the node while the script runs.
  request.output_file = workspace->user_logs / "std_log.txt";
  request.max_output_bytes = options_.max_log_bytes;
  request.on_output_range = [&](int64_t offset, int64_t length) {
    observer_->OnFileRange("user_logs/std_log.txt", request.output_file, offset, length);
  };
  auto report_output = [](std::string_view) {};  // pipe mode only
  DirectorySync sync({{workspace->outputs(), "outputs"}, {workspace->logs(), "logs"}}, observer_);
  LaunchResult result;
  {
    SyncLoop sync_loop(&sync, {workspace->outputs(), workspace->logs()}, options_.sync_interval);
    result = LaunchAndWait(
        request, report_output, cancel,
        [&](pid_t pid) {
          system_log.Line(absl::StrCat("started process ", pid));
          observer_->OnStatus(runyard::v1::RUNNING);
        },
        [&](const std::string& event) { system_log.Line(event); });
  }
  const sandbox::Containment::Usage usage =
      containment ? containment->ReadUsage() : sandbox::Containment::Usage{};
  if (containment && options_.journal != nullptr) options_.journal->Forget(run_id);  // nothing of it is left
  if (!result.started) {
    return finish(Failure(runyard::v1::FAILED, "UserError",
                          absl::StrCat("cannot start ", request.executable.string(), ": ",
                                       result.start_error)));
  }
  system_log.Line(result.exited ? absl::StrCat("process exited with code ", result.exit_code)
                                : absl::StrCat("process killed by signal ", result.term_signal));
  if (result.output_dropped_bytes > 0) {
    system_log.Line(absl::StrCat("user_logs/std_log.txt was cut at ", options_.max_log_bytes, " bytes (max_log_bytes); ",
                                 result.output_dropped_bytes, " bytes of output dropped"));
  }

  // Outputs and logs written before the end (or the kill) still reach run history.
  observer_->OnStatus(runyard::v1::FINALIZING);
  sync.Scan(/*final_scan=*/true);
  snapshot_mount.reset();  // wd/ becomes what the run wrote
  snapshot_pins.reset();
  environment->in_use.reset();
  if (const int64_t freed = environments->EvictToQuota(); freed > 0) {
    system_log.Line(absl::StrCat("environment cache over quota: evicted ", freed, " bytes"));
  }
  if (const int64_t freed = cache->EvictToQuota(); freed > 0) {
    system_log.Line(absl::StrCat("node cache over quota: evicted ", freed, " bytes"));
  }
  if (!result.sandbox_error.empty()) {
    return finish(Failure(runyard::v1::FAILED, "SandboxSetupFailed",
                          "bubblewrap could not set up the run's sandbox: " + result.sandbox_error));
  }
  RunOutcome outcome = Judge(result, spec, cancel.reason());
  if (usage.oom_killed && outcome.status != runyard::v1::COMPLETED && !result.deadline_exceeded && !result.canceled) {
    const RunOutcome judged = outcome;
    outcome = Failure(runyard::v1::FAILED, "OutOfMemory",
                      absl::StrCat("the run used more than its memory limit (resources.memory_mb: ",
                                   spec.resources().memory_mb(), ") and the kernel killed it"));
    outcome.has_exit_code = judged.has_exit_code;
    outcome.exit_code = judged.exit_code;
  }
  if (usage.measured) {
    outcome.usage.set_measured(true);
    outcome.usage.set_cpu_seconds(usage.cpu_seconds);
    outcome.usage.set_peak_memory_bytes(usage.peak_memory_bytes);
    outcome.usage.set_peak_pids(usage.peak_pids);
    system_log.Line(absl::StrCat("used ", usage.cpu_seconds, " CPU seconds, peak memory ", usage.peak_memory_bytes,
                                 " bytes"));
  }
  return finish(outcome);
}

}  // namespace runyard::runtime
