#include "cli/commands.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cli/command_support.h"
#include "cli/git_info.h"
#include "cli/local_backend.h"
#include "cli/local_executor.h"
#include "cli/log_selection.h"
#include "cli/remote_backend.h"
#include "cli/render.h"
#include "cli/snapshot_archive.h"
#include "cli/snapshot_builder.h"
#include "cli/snapshot_upload.h"
#include "common/digest.h"
#include "common/distributed_config.h"
#include "common/snapshot_manifest.h"
#include "common/status_names.h"

extern char** environ;

namespace runyard::cli {
namespace fs = std::filesystem;
namespace {

// Ctrl-C during a waited local run cancels the run (SIGTERM to its tree, grace, SIGKILL).
class InterruptToCancel {
 public:
  explicit InterruptToCancel(runtime::CancelToken& cancel) {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::thread([signals, &cancel]() mutable {
      int signal = 0;
      if (sigwait(&signals, &signal) == 0) {
        std::cerr << "\nrunyard: canceling the run (signal " << signal << ")\n";
        cancel.RequestCancel();
      }
    }).detach();
  }
};

runyard::v1::SnapshotLimits LimitsFromFlags(const SubmitFlags& flags) {
  runyard::v1::SnapshotLimits limits;
  limits.set_max_bytes(flags.max_snapshot_mb * 1000 * 1000);
  limits.set_max_files(flags.max_snapshot_files);
  return limits;
}

// Manifest of the source folder, checked against the limits (before any byte moves),
// then only what the store lacks is uploaded.
absl::StatusOr<UploadReport> SnapshotAndUpload(const std::string& source_directory,
                                               RunBackend& backend,
                                               const runyard::v1::SnapshotLimits& limits) {
  const fs::path digest_cache = LocalBackend::DefaultHome() / "digest-cache" /
                                common::Sha256Hex(fs::absolute(source_directory).string());
  // runyard's own home never travels, even when it lies inside the source folder.
  absl::StatusOr<BuiltSnapshot> built =
      BuildSnapshot(source_directory, digest_cache, {LocalBackend::DefaultHome()});
  if (!built.ok()) return built.status();
  absl::StatusOr<runyard::v1::SnapshotLimits> defaults = backend.DefaultSnapshotLimits();
  if (!defaults.ok()) return defaults.status();
  if (absl::Status ok =
          common::CheckSnapshotLimits(built->manifest, common::EffectiveLimits(limits, *defaults));
      !ok.ok()) {
    return ok;
  }
  return UploadSnapshot(*built, backend, ::isatty(STDERR_FILENO) != 0);
}

std::string DescribeUpload(const UploadReport& upload) {
  return absl::StrCat("snapshot ", upload.files, " files, ", common::HumanBytes(upload.bytes),
                      "; uploaded ", upload.uploaded_blobs, " blobs, ",
                      common::HumanBytes(upload.uploaded_bytes), "; skipped ", upload.skipped_files,
                      " unchanged files, ", common::HumanBytes(upload.skipped_bytes));
}

nlohmann::json UploadToJson(const UploadReport& upload) {
  return {{"id", upload.snapshot_id},
          {"files", upload.files},
          {"bytes", upload.bytes},
          {"uploaded_blobs", upload.uploaded_blobs},
          {"uploaded_bytes", upload.uploaded_bytes},
          {"skipped_files", upload.skipped_files},
          {"skipped_bytes", upload.skipped_bytes},
          {"manifest_bytes", upload.manifest_bytes},
          {"ignored", upload.ignored}};
}

// Starts `runyard _exec-local RUN` detached from this terminal, so submit returns at once.
absl::Status SpawnBackgroundExecutor(const std::string& run_id, int kill_grace_seconds) {
  char self[4096] = {};
  if (::readlink("/proc/self/exe", self, sizeof self - 1) <= 0)
    return absl::InternalError("cannot find own binary");
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  const std::string grace = std::to_string(kill_grace_seconds);
  const char* argv[] = {self,          "_exec-local", run_id.c_str(), "--kill-grace-seconds",
                        grace.c_str(), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, self, &actions, &attr, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0)
    return absl::InternalError(absl::StrCat("cannot start the local executor: ", strerror(rc)));
  return absl::OkStatus();
}

}  // namespace

int SubmitCommand(const GlobalOptions& global, const SubmitOptions& options) {
  absl::StatusOr<runyard::v1::RunSpec> spec = BuildSpec(options.flags);
  if (!spec.ok()) return Fail(spec.status());
  const bool local = spec->compute_target() == "local";
  if (!local && !HasServer(global)) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("compute_target '", spec->compute_target(), "' is a pool: ", kNameAServer)));
  }

  std::unique_ptr<RunBackend> backend;
  LocalBackend* local_backend = nullptr;
  if (local) {
    absl::StatusOr<std::unique_ptr<LocalBackend>> opened = OpenLocal();
    if (!opened.ok()) return Fail(opened.status());
    local_backend = opened->get();
    backend = std::move(*opened);
  } else {
    absl::StatusOr<std::unique_ptr<RemoteBackend>> remote = ConnectServer(global);
    if (!remote.ok()) return Fail(remote.status());
    backend = std::move(*remote);
  }

  const runyard::v1::SnapshotLimits limits = LimitsFromFlags(options.flags);
  absl::StatusOr<UploadReport> upload =
      SnapshotAndUpload(spec->source_directory(), *backend, limits);
  if (!upload.ok()) return Fail(upload.status());
  spec->set_snapshot_id(upload->snapshot_id);
  for (const auto& [key, value] : GitProperties(spec->source_directory()))
    (*spec->mutable_properties())[key] = value;

  absl::StatusOr<runyard::v1::Run> run = backend->Submit(*spec, limits);
  if (!run.ok()) return Fail(run.status());
  if (!global.json) {
    std::cerr << "runyard: submitted " << run->run_id() << " to " << run->target() << " ("
              << DescribeUpload(*upload) << ")\n";
  }
  const std::string run_id = run->run_id();

  if (!options.wait) {
    if (local) {
      if (absl::Status started = SpawnBackgroundExecutor(run_id, options.kill_grace_seconds);
          !started.ok()) {
        return Fail(started);
      }
    }
    if (global.json) {
      nlohmann::json json = RunToJson(*run);
      json["snapshot"] = UploadToJson(*upload);
      PrintJson(json);
    } else {
      std::cout << run_id << "\n";
    }
    return 0;
  }

  // Waiting: print the script's output live (to stdout, or stderr under --json), and
  // status changes to stderr.
  auto print_log = [&](std::string_view bytes) {
    if (!options.show_output) return;
    std::ostream& out = global.json ? std::cerr : std::cout;
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
  };
  auto print_status = [&, last = runyard::v1::RUN_STATUS_UNSPECIFIED](
                          const runyard::v1::Run& seen) mutable {
    if (seen.status() == last || global.json) return;
    last = seen.status();
    std::cerr << "runyard: " << seen.run_id() << " " << common::StatusName(seen.status()) << "\n";
  };

  absl::StatusOr<runyard::v1::Run> final_run;
  if (local) {
    runtime::CancelToken cancel;
    InterruptToCancel interrupt(cancel);
    LocalExecutionOptions execution;
    execution.kill_grace = std::chrono::seconds(options.kill_grace_seconds);
    execution.on_output = print_log;
    // Status lines come from a watcher on the store, as for any other run.
    std::thread status_printer([&] {
      // Only the status lines are lost when watching fails: how the run ended comes from
      // ExecuteLocalRun below.
      absl::StatusOr<runyard::v1::Run> watched = local_backend->Watch(
          run_id, "", 0, [](std::string_view) {}, print_status);
      if (!watched.ok() && !global.json) {
        std::cerr << "runyard: cannot follow the status of " << run_id << ": "
                  << watched.status().message() << "\n";
      }
    });
    final_run = ExecuteLocalRun(*local_backend, run_id, cancel, execution);
    status_printer.join();
  } else {
    // A distributed run that starts every rank shows rank 0's log, as `runyard logs` does.
    const std::string log_path = DefaultLogPath(*spec);
    final_run = backend->Watch(run_id, log_path == common::NodeLogPath(0) ? "" : log_path, 0,
                               print_log, print_status);
  }
  if (!final_run.ok()) return Fail(final_run.status());
  const RunSummary summary = SummaryFor(*backend, global, *final_run);
  if (global.json) {
    nlohmann::json json = RunToJson(*final_run);
    json["summary"] = SummaryToJson(summary);
    PrintJson(json);
  } else {
    std::cout << RenderSummary(summary) << std::flush;
  }
  return final_run->status() == runyard::v1::COMPLETED ? 0 : 1;
}

int ExecuteLocalCommand(const std::string& run_id, int kill_grace_seconds) {
  absl::StatusOr<std::unique_ptr<LocalBackend>> local = OpenLocal();
  if (!local.ok()) return Fail(local.status());
  runtime::CancelToken cancel;
  InterruptToCancel interrupt(cancel);
  LocalExecutionOptions execution;
  execution.kill_grace = std::chrono::seconds(kill_grace_seconds);
  absl::StatusOr<runyard::v1::Run> run = ExecuteLocalRun(**local, run_id, cancel, execution);
  if (!run.ok()) return Fail(run.status());
  return run->status() == runyard::v1::COMPLETED ? 0 : 1;
}

int StatusCommand(const GlobalOptions& global, const std::string& run_id) {
  absl::StatusOr<std::unique_ptr<RunBackend>> backend = BackendForRun(global, run_id);
  if (!backend.ok()) return Fail(backend.status());
  absl::StatusOr<runyard::v1::Run> run = (*backend)->Get(run_id);
  if (!run.ok()) return Fail(run.status());
  if (global.json) {
    PrintJson(RunToJson(*run));
  } else {
    std::cout << DescribeRun(*run);
  }
  return 0;
}

int ListCommand(const GlobalOptions& global, const ListFlags& flags) {
  absl::StatusOr<runyard::v1::ListRunsRequest> request = BuildListRequest(flags);
  if (!request.ok()) return Fail(request.status());
  std::vector<runyard::v1::Run> runs;
  absl::StatusOr<std::unique_ptr<LocalBackend>> local = OpenLocal();
  absl::Status local_status = local.status();
  if (local.ok()) {
    absl::StatusOr<std::vector<runyard::v1::Run>> found = (*local)->List(*request);
    local_status = found.status();
    if (found.ok()) runs = std::move(*found);
  }
  if (!HasServer(global)) {
    if (!local_status.ok()) return Fail(local_status);
  } else {
    // The server's runs still list when the local store cannot be read: say why it is missing.
    if (!local_status.ok() && !global.json) {
      std::cerr << "runyard: local runs left out: " << local_status.message() << "\n";
    }
    absl::StatusOr<std::unique_ptr<RemoteBackend>> remote = ConnectServer(global);
    if (!remote.ok()) return Fail(remote.status());
    absl::StatusOr<std::vector<runyard::v1::Run>> found = (*remote)->List(*request);
    if (!found.ok()) return Fail(found.status());
    runs.insert(runs.end(), found->begin(), found->end());
  }
  std::sort(runs.begin(), runs.end(),
            [](const auto& a, const auto& b) { return a.created_unix_ms() > b.created_unix_ms(); });
  if (flags.limit > 0 && static_cast<int>(runs.size()) > flags.limit) {
    runs.resize(static_cast<size_t>(flags.limit));
  }
  if (global.json) {
    nlohmann::json json = nlohmann::json::array();
    for (const auto& run : runs) json.push_back(RunToJson(run));
    PrintJson(json);
  } else {
    std::cout << RunTreeTable(runs);
  }
  return 0;
}

int SnapshotUploadCommand(const GlobalOptions& global, const SubmitFlags& flags,
                          const std::string& target) {
  std::unique_ptr<RunBackend> backend;
  if (target == "local") {
    absl::StatusOr<std::unique_ptr<LocalBackend>> local = OpenLocal();
    if (!local.ok()) return Fail(local.status());
    backend = std::move(*local);
  } else {
    absl::StatusOr<std::unique_ptr<RemoteBackend>> remote = ConnectServer(global);
    if (!remote.ok()) return Fail(remote.status());
    backend = std::move(*remote);
  }
  const std::string source = flags.source_directory.empty() ? "." : flags.source_directory;
  absl::StatusOr<UploadReport> upload = SnapshotAndUpload(source, *backend, LimitsFromFlags(flags));
  if (!upload.ok()) return Fail(upload.status());
  if (global.json) {
    PrintJson(UploadToJson(*upload));
  } else {
    std::cout << upload->snapshot_id << "\n";
    std::cerr << "runyard: " << DescribeUpload(*upload) << "\n";
  }
  return 0;
}

int SnapshotDownloadCommand(const GlobalOptions& global, const std::string& run_id,
                            const std::string& output) {
  absl::StatusOr<std::unique_ptr<RunBackend>> backend = BackendForRun(global, run_id);
  if (!backend.ok()) return Fail(backend.status());
  absl::StatusOr<runyard::v1::Run> run = (*backend)->Get(run_id);
  if (!run.ok()) return Fail(run.status());
  const std::string out = output.empty() ? run_id + "-snapshot.tar.gz" : output;
  if (absl::Status written = WriteSnapshotArchive(**backend, run->spec().snapshot_id(), out);
      !written.ok()) {
    return Fail(written);
  }
  if (global.json) {
    PrintJson({{"run_id", run_id}, {"snapshot_id", run->spec().snapshot_id()}, {"file", out}});
  } else {
    std::cerr << "runyard: snapshot of " << run_id << " written to " << out << "\n";
  }
  return 0;
}

int CancelCommand(const GlobalOptions& global, const std::string& run_id) {
  absl::StatusOr<std::unique_ptr<RunBackend>> backend = BackendForRun(global, run_id);
  if (!backend.ok()) return Fail(backend.status());
  absl::StatusOr<runyard::v1::Run> run = (*backend)->Cancel(run_id);
  if (!run.ok()) return Fail(run.status());
  if (global.json) {
    PrintJson(RunToJson(*run));
  } else {
    std::cout << run_id << " " << common::StatusName(run->status()) << "\n";
  }
  return 0;
}

}  // namespace runyard::cli
