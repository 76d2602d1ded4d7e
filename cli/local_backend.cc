#include "cli/local_backend.h"

#include <signal.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace runyard::cli {
namespace fs = std::filesystem;
namespace {

// A local run is held by the runyard process that executes it ("local:<pid>"): once that
// process is dead the run can never end by itself (no server watches local runs).
std::optional<std::string> LocalHolderGone(const runyard::v1::Run& run) {
  if (!absl::StartsWith(run.agent_id(), "local:")) return std::nullopt;
  const pid_t pid = static_cast<pid_t>(std::atoi(run.agent_id().c_str() + 6));
  if (pid <= 0) return std::nullopt;
  bool gone = ::kill(pid, 0) != 0 && errno == ESRCH;
  if (!gone) {
    // A dead process not yet reaped by its parent still answers kill(): look for 'Z'.
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    const size_t paren = line.rfind(')');
    gone = paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
  }
  if (!gone) return std::nullopt;
  return absl::StrCat("the runyard process that ran it (", run.agent_id(),
                      ") exited before the run ended");
}

}  // namespace

fs::path LocalBackend::DefaultHome() {
  if (const char* home = std::getenv("RUNYARD_HOME"); home && *home) return home;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) return fs::path(xdg) / "runyard";
  const char* user_home = std::getenv("HOME");
  return fs::path(user_home && *user_home ? user_home : "/tmp") / ".local/share/runyard";
}

absl::StatusOr<std::unique_ptr<LocalBackend>> LocalBackend::Open(const fs::path& home) {
  std::error_code ec;
  fs::create_directories(home, ec);
  if (ec)
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", home.string(), ": ", ec.message()));
  auto backend = std::unique_ptr<LocalBackend>(new LocalBackend(fs::absolute(home)));
  ASSIGN_OR_RETURN(backend->store_, server::Store::Open((backend->home_ / "runyard.db").string()));
  backend->blobs_ = std::make_unique<server::BlobStore>(backend->home_ / "blobs");
  backend->files_ =
      std::make_unique<server::RunFiles>(backend->home_ / "runs", backend->store_.get());
  server::ControlPlaneOptions options;
  options.accepts_local_runs = true;
  // Other runyard processes share the store (the one running the run, `runyard cancel`):
  // their changes wake nobody here, so a watch looks again this often.
  options.watch_recheck = std::chrono::milliseconds(200);
  options.lost_holder = LocalHolderGone;
  backend->plane_ = std::make_unique<server::ControlPlane>(
      backend->store_.get(), backend->blobs_.get(), backend->files_.get(), std::move(options));
  return backend;
}

bool LocalBackend::HasRun(const std::string& run_id) {
  absl::StatusOr<bool> exists = plane_->RunExists(run_id);
  if (!exists.ok()) {
    common::Logger("cli")->warn("run {}: the local store cannot tell whether it has it: {}", run_id,
                                exists.status().ToString());
  }
  return exists.value_or(false);
}

absl::StatusOr<std::vector<std::string>> LocalBackend::FindMissingBlobs(
    const std::vector<std::string>& digests) {
  return plane_->FindMissingBlobs(digests);
}

absl::Status LocalBackend::UploadBlobs(
    const std::vector<std::pair<std::string, std::string>>& blobs) {
  for (const auto& [digest, bytes] : blobs) RETURN_IF_ERROR(plane_->PutBlob(digest, bytes));
  return absl::OkStatus();
}

absl::Status LocalBackend::UploadFileBlob(const std::string& digest, const fs::path& file,
                                          const std::function<void(int64_t)>& on_progress) {
  absl::Status stored = plane_->PutBlobFile(digest, file, on_progress);
  if (absl::IsDataLoss(stored))
    return absl::DataLossError(file.string() + " changed while it was stored");
  return stored;
}

absl::Status LocalBackend::ReadBlob(const std::string& digest,
                                    const std::function<void(std::string_view)>& sink) {
  return plane_->ReadBlobs({digest}, [&](const runyard::v1::BlobChunk& chunk) {
    sink(chunk.data());
    return true;
  });
}

absl::StatusOr<runyard::v1::SnapshotLimits> LocalBackend::DefaultSnapshotLimits() {
  return plane_->DefaultSnapshotLimits();
}

absl::StatusOr<runyard::v1::Run> LocalBackend::Submit(const runyard::v1::RunSpec& spec,
                                                      const runyard::v1::SnapshotLimits& limits) {
  return plane_->Submit(spec, limits);
}

absl::StatusOr<runyard::v1::Run> LocalBackend::Get(const std::string& run_id) {
  return plane_->Get(run_id);
}

absl::StatusOr<std::vector<runyard::v1::Run>> LocalBackend::List(
    const runyard::v1::ListRunsRequest& request) {
  return plane_->List(request);
}

absl::StatusOr<runyard::v1::GetMetricsResponse> LocalBackend::GetMetrics(
    const runyard::v1::GetMetricsRequest& request) {
  return plane_->GetMetrics(request);
}

absl::StatusOr<runyard::v1::Run> LocalBackend::SetTags(const runyard::v1::SetTagsRequest& request) {
  return plane_->SetTags(request);
}

absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>> LocalBackend::ListExperiments(
    bool include_archived) {
  return plane_->ListExperiments(include_archived);
}

absl::StatusOr<runyard::v1::ExperimentInfo> LocalBackend::SetExperimentArchived(
    const std::string& name, bool archived) {
  return plane_->SetExperimentArchived(name, archived);
}

absl::StatusOr<runyard::v1::Run> LocalBackend::Cancel(const std::string& run_id) {
  return plane_->Cancel(run_id);
}

absl::StatusOr<std::vector<runyard::v1::FileInfo>> LocalBackend::ListFiles(
    const std::string& run_id) {
  return plane_->ListFiles(run_id);
}

absl::Status LocalBackend::ReadFile(const std::string& run_id, const std::string& path,
                                    int64_t offset, const FileChunkSink& sink) {
  absl::Status refused;  // what the sink said when it stopped the read
  RETURN_IF_ERROR(plane_->ReadFile(run_id, path, offset, [&](const runyard::v1::FileChunk& chunk) {
    refused = sink(chunk.data(), chunk.total_size());
    return refused.ok();
  }));
  return refused;
}

absl::StatusOr<runyard::v1::Run> LocalBackend::Watch(
    const std::string& run_id, const std::string& log_path, int64_t log_offset,
    const std::function<void(std::string_view)>& on_log,
    const std::function<void(const runyard::v1::Run&)>& on_run) {
  runyard::v1::WatchRequest request;
  request.set_run_id(run_id);
  request.set_log_path(log_path);
  request.set_log_offset(log_offset);
  return plane_->Watch(request, [&](const runyard::v1::WatchEvent& event) {
    if (event.has_run()) {
      if (on_run) on_run(event.run());
    } else {
      on_log(event.log_bytes());
    }
    return true;
  });
}

}  // namespace runyard::cli
