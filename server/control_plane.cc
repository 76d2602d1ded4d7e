// ControlPlane: construction, the change counter watchers wait on, users' Submit, Get, List,
// Cancel.
#include "server/control_plane.h"

#include "absl/strings/str_cat.h"
#include "common/distributed_config.h"
#include "common/request_limits.h"
#include "common/ids.h"
#include "common/logging.h"
#include "common/read_file.h"
#include "common/secret_names.h"
#include "common/spec_yaml.h"
#include "common/status_macros.h"
#include "common/status_names.h"
#include "server/control_plane_internal.h"

namespace runyard::server {
using runyard::v1::RunStatus;
namespace {

auto Log() { return common::Logger("server"); }

// Takes the values of the spec's secret variables out of it, leaving the mask in their
// place: the stored spec (every read of the run) never holds them.
std::map<std::string, std::string> TakeSecrets(runyard::v1::RunSpec* spec) {
  std::map<std::string, std::string> secrets;
  const runyard::v1::Environment& environment = spec->environment();
  for (const auto& [name, value] : environment.environment_variables()) {
    if (common::IsSecretVariable(name, environment)) secrets[name] = value;
  }
  if (!secrets.empty()) common::MaskSecretValues(spec);
  return secrets;
}

bool HasSecretVariables(const runyard::v1::RunSpec& spec) {
  const runyard::v1::Environment& environment = spec.environment();
  for (const auto& [name, value] : environment.environment_variables()) {
    if (common::IsSecretVariable(name, environment)) return true;
  }
  return false;
}

}  // namespace

ControlPlane::ControlPlane(Store* store, BlobStore* blobs, RunFiles* files,
                           ControlPlaneOptions options)
    : store_(store),
      blobs_(blobs),
      files_(files),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : common::Clock::Real()),
      uploads_(blobs) {}

ControlPlane::~ControlPlane() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  watchers_.notify_all();
  if (reaper_.joinable()) reaper_.join();
}

void ControlPlane::ChangedLocked() {
  ++version_;
  changed_.notify_all();
  watchers_.notify_all();
}

void ControlPlane::FileChangedLocked() {
  ++version_;
  watchers_.notify_all();
}

uint64_t ControlPlane::Version() {
  std::lock_guard lock(mutex_);
  return version_;
}

bool ControlPlane::Stopping() {
  std::lock_guard lock(mutex_);
  return stopping_;
}

void ControlPlane::WaitForChange(uint64_t seen, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  watchers_.wait_until(lock, deadline, [&] { return version_ != seen || stopping_; });
}

absl::Status ControlPlane::Transition(Store& store, const std::string& run_id, RunStatus status) {
  return TransitionAt(store, run_id, status, clock_->NowUnixMs());
}

absl::Status ControlPlane::TransitionAt(Store& store, const std::string& run_id, RunStatus status,
                                        int64_t time_ms) {
  RETURN_IF_ERROR(store.AppendStatus(run_id, status, time_ms));
  if (common::IsTerminal(status)) {
    RETURN_IF_ERROR(EndChildren(store, run_id, status));
    // Nothing runs it any more: its secrets need not be kept.
    RETURN_IF_ERROR(store.DeleteRunSecrets(run_id));
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------------ users

runyard::v1::SnapshotLimits ControlPlane::DefaultSnapshotLimits() const {
  runyard::v1::SnapshotLimits limits;
  limits.set_max_bytes(options_.max_snapshot_bytes);
  limits.set_max_files(options_.max_snapshot_files);
  return limits;
}

absl::Status ControlPlane::CheckSnapshot(const std::string& snapshot_id,
                                         const runyard::v1::SnapshotLimits& limits) {
  if (!blobs_->Has(snapshot_id)) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot '", snapshot_id, "' was not uploaded; upload it before submitting"));
  }
  ASSIGN_OR_RETURN(const std::string bytes, common::ReadWholeFile(blobs_->PathOf(snapshot_id)));
  absl::StatusOr<runyard::v1::SnapshotManifest> manifest = common::ParseManifest(bytes);
  if (!manifest.ok()) return absl::InvalidArgumentError(std::string(manifest.status().message()));
  RETURN_IF_ERROR(common::CheckSnapshotLimits(
      *manifest, common::EffectiveLimits(limits, DefaultSnapshotLimits())));
  int64_t missing = 0;
  std::string first_missing;
  for (const auto& entry : manifest->entries()) {
    if (entry.directory() || blobs_->Has(entry.digest())) continue;
    if (missing++ == 0) first_missing = entry.path();
  }
  if (missing > 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "snapshot '", snapshot_id, "': ", missing, " file(s) not uploaded, e.g. ", first_missing));
  }
  return absl::OkStatus();
}

absl::StatusOr<runyard::v1::Run> ControlPlane::Submit(runyard::v1::RunSpec spec,
                                                      const runyard::v1::SnapshotLimits& limits,
                                                      const Identity& who) {
  if (!options_.accepts_local_runs && spec.compute_target() == "local") {
    return absl::InvalidArgumentError(
        "compute_target 'local' runs on your machine; the server runs pools");
  }
  RETURN_IF_ERROR(common::ValidateRunSpec(spec));
  // A server's gate checked the request already; local mode has no gate.
  if (who.trusted) RETURN_IF_ERROR(common::CheckMessageLimits(spec));
  // Its defaults filled in, so that agents and `runyard show` see the counts it runs with.
  RETURN_IF_ERROR(common::NormalizeDistributedConfig(&spec));
  if (spec.compute_target().empty()) {
    return absl::InvalidArgumentError(
        "spec field 'compute_target': missing (local or a pool name)");
  }
  RETURN_IF_ERROR(CheckSnapshot(spec.snapshot_id(), limits));
  if (spec.experiment().empty()) spec.set_experiment("default");

  runyard::v1::Run run;
  run.set_experiment(spec.experiment());
  run.set_target(spec.compute_target());
  const int64_t now = clock_->NowUnixMs();
  run.set_created_unix_ms(now);
  run.set_status(runyard::v1::QUEUED);
  for (RunStatus status : {runyard::v1::NOT_STARTED, runyard::v1::QUEUED}) {
    auto* event = run.add_history();
    event->set_status(status);
    event->set_time_unix_ms(now);
  }
  run.set_submitted_by(who.Actor());
  const std::map<std::string, std::string> secrets = TakeSecrets(&spec);
  *run.mutable_spec() = std::move(spec);
  // The id is checked and taken in one transaction: no other submitter can take it between.
  RETURN_IF_ERROR(store_->InTransaction([&](Store& txn) -> absl::Status {
    while (true) {
      run.set_run_id(common::NewRunId());
      ASSIGN_OR_RETURN(const bool taken, txn.RunExists(run.run_id()));
      if (!taken) break;
    }
    RETURN_IF_ERROR(txn.InsertRun(run));
    if (!secrets.empty()) RETURN_IF_ERROR(txn.SetRunSecrets(run.run_id(), secrets));
    return txn.AppendAudit(AuditOf(who, "submit", run.run_id(),
                                   absl::StrCat("experiment ", run.experiment(), " on '",
                                                run.target(), "'")));
  }));
  Log()->info("run {} queued on '{}' (experiment {})", run.run_id(), run.target(),
              run.experiment());

  std::lock_guard lock(mutex_);
  DispatchLocked(run.target());
  ChangedLocked();
  return run;
}

absl::Status ControlPlane::RevealSecrets(const std::string& run_id, runyard::v1::RunSpec* spec) {
  if (!HasSecretVariables(*spec)) return absl::OkStatus();  // most runs: no read
  ASSIGN_OR_RETURN(const auto values, store_->RunSecrets(run_id));
  auto* variables = spec->mutable_environment()->mutable_environment_variables();
  for (const auto& [name, value] : values) {
    if (auto found = variables->find(name); found != variables->end()) found->second = value;
  }
  return absl::OkStatus();
}

absl::StatusOr<runyard::v1::Run> ControlPlane::EndIfHolderGone(runyard::v1::Run run) {
  if (!options_.lost_holder || common::IsTerminal(run.status()) ||
      run.status() == runyard::v1::QUEUED) {
    return run;
  }
  if (!run.parent_run_id().empty()) {
    // A child has no holder of its own: its parent's process is its holder, and ending
    // the parent ends the child with it.
    ASSIGN_OR_RETURN(const runyard::v1::Run parent, Get(run.parent_run_id()));
    if (!common::IsTerminal(parent.status())) return run;
    return store_->GetRun(run.run_id());
  }
  const std::optional<std::string> why = options_.lost_holder(run);
  if (!why) return run;
  if (absl::Status failed = FailLostRun(run.run_id(), *why); !failed.ok()) {
    // Shown as it is; the next read tries again.
    Log()->warn("run {}: its holder is gone but the run cannot be ended: {}", run.run_id(),
                failed.ToString());
    return run;
  }
  absl::StatusOr<runyard::v1::Run> ended = store_->GetRun(run.run_id());
  if (!ended.ok()) {
    // Ended in the store; this reader sees the old row once, the next read the new one.
    Log()->warn("run {}: ended, but cannot be read again: {}", run.run_id(),
                ended.status().ToString());
    return run;
  }
  return ended;
}

absl::StatusOr<runyard::v1::Run> ControlPlane::Get(const std::string& run_id) {
  ASSIGN_OR_RETURN(runyard::v1::Run run, store_->GetRun(run_id));
  ASSIGN_OR_RETURN(run, EndIfHolderGone(std::move(run)));
  AddStatusDetail(&run);
  return run;
}

absl::StatusOr<bool> ControlPlane::RunExists(const std::string& run_id) {
  return store_->RunExists(run_id);
}

absl::StatusOr<std::vector<runyard::v1::Run>> ControlPlane::List(const std::string& experiment,
                                                                 int limit) {
  ASSIGN_OR_RETURN(std::vector<runyard::v1::Run> runs, store_->ListRuns(experiment, limit));
  if (options_.lost_holder) {
    for (runyard::v1::Run& run : runs) {
      ASSIGN_OR_RETURN(run, EndIfHolderGone(std::move(run)));
    }
  }
  for (runyard::v1::Run& run : runs) AddStatusDetail(&run);
  return runs;
}

absl::StatusOr<std::vector<RunCount>> ControlPlane::CountRuns() { return store_->CountRuns(); }

absl::StatusOr<runyard::v1::Run> ControlPlane::Cancel(const std::string& run_id,
                                                      const Identity& who) {
  std::lock_guard lock(mutex_);
  RunStatus was = runyard::v1::RUN_STATUS_UNSPECIFIED;
  bool changed = false;
  RETURN_IF_ERROR(store_->InTransaction([&](Store& txn) -> absl::Status {
    ASSIGN_OR_RETURN(const LeaseRecord lease, txn.GetLease(run_id));
    was = lease.status;
    if (common::IsTerminal(was) || was == runyard::v1::CANCEL_REQUESTED) {
      return absl::OkStatus();  // nothing to do: cancel is idempotent
    }
    changed = true;
    RETURN_IF_ERROR(txn.SetCanceledBy(run_id, who.Actor()));
    RETURN_IF_ERROR(txn.AppendAudit(
        AuditOf(who, "cancel", run_id, absl::StrCat("was ", common::StatusName(was)))));
    ASSIGN_OR_RETURN(const runyard::v1::Run run, txn.GetRun(run_id));
    if (!run.parent_run_id().empty()) {
      // A child run has no process of its own to stop (its parent's script logs for it):
      // it ends at once.
      RETURN_IF_ERROR(txn.SetOutcome(
          run_id, false, 0, ErrorOf(common::RunErrorCode::kCanceled, "the run was canceled")));
      return Transition(txn, run_id, runyard::v1::CANCELED);
    }
    if (was == runyard::v1::QUEUED || was == runyard::v1::NOT_STARTED) {
      // Not started anywhere: cancel at once. A holder that has not started it yet will be
      // refused when it reports.
      RETURN_IF_ERROR(txn.SetOutcome(
          run_id, false, 0,
          ErrorOf(common::RunErrorCode::kCanceled, "the run was canceled before it started")));
      return Transition(txn, run_id, runyard::v1::CANCELED);
    }
    return Transition(txn, run_id, runyard::v1::CANCEL_REQUESTED);
  }));
  status_details_.erase(run_id);
  shapes_.erase(run_id);
  if (changed) {
    Log()->info("run {}: cancel requested (was {})", run_id, common::StatusName(was));
    ChangedLocked();  // wakes the holder's Poll, which carries the cancel down
  }
  return store_->GetRun(run_id);
}

}  // namespace runyard::server
