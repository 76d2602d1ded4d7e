#include "cli/local_backend.h"

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_names.h"

namespace runyard::cli {
namespace fs = std::filesystem;

fs::path LocalBackend::DefaultHome() {
  if (const char* home = std::getenv("RUNYARD_HOME"); home && *home) return home;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) return fs::path(xdg) / "runyard";
  const char* user_home = std::getenv("HOME");
  return fs::path(user_home && *user_home ? user_home : "/tmp") / ".local/share/runyard";
}

absl::StatusOr<std::unique_ptr<LocalBackend>> LocalBackend::Open(const fs::path& home) {
  std::error_code ec;
  fs::create_directories(home, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", home.string(), ": ", ec.message()));
  auto backend = std::unique_ptr<LocalBackend>(new LocalBackend(fs::absolute(home)));
  absl::StatusOr<std::unique_ptr<server::Store>> store = server::Store::Open((backend->home_ / "runyard.db").string());
  if (!store.ok()) return store.status();
  backend->store_ = std::move(*store);
  backend->blobs_ = std::make_unique<server::BlobStore>(backend->home_ / "blobs");
  backend->files_ = std::make_unique<server::RunFiles>(backend->home_ / "runs", backend->store_.get());
  backend->plane_ = std::make_unique<server::ControlPlane>(backend->store_.get(), backend->blobs_.get(),
                                                           backend->files_.get());
  return backend;
}

absl::StatusOr<std::vector<std::string>> LocalBackend::FindMissingBlobs(const std::vector<std::string>& digests) {
  std::vector<std::string> missing;
  for (const auto& digest : digests) {
    if (!blobs_->Has(digest)) missing.push_back(digest);
  }
  return missing;
}

absl::Status LocalBackend::UploadBlobs(const std::vector<std::pair<std::string, std::string>>& blobs) {
  for (const auto& [digest, bytes] : blobs) {
    absl::StatusOr<std::string> stored = blobs_->Put(bytes);
    if (!stored.ok()) return stored.status();
    if (*stored != digest) return absl::DataLossError("blob " + digest + " changed while it was stored");
  }
  return absl::OkStatus();
}

absl::Status LocalBackend::UploadFileBlob(const std::string& digest, const fs::path& file,
                                          const std::function<void(int64_t)>& on_progress) {
  absl::StatusOr<std::string> stored = blobs_->PutFile(file);
  if (!stored.ok()) return stored.status();
  if (*stored != digest) return absl::DataLossError(file.string() + " changed while it was stored");
  std::error_code ec;
  if (on_progress) on_progress(static_cast<int64_t>(fs::file_size(file, ec)));
  return absl::OkStatus();
}

absl::Status LocalBackend::ReadBlob(const std::string& digest, const std::function<void(std::string_view)>& sink) {
  std::ifstream in(blobs_->PathOf(digest), std::ios::binary);
  if (!blobs_->Has(digest) || !in) return absl::NotFoundError("blob " + digest + " not found");
  std::string buffer(1 << 20, '\0');
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.gcount() > 0) sink(std::string_view(buffer.data(), static_cast<size_t>(in.gcount())));
  }
  return absl::OkStatus();
}

absl::StatusOr<runyard::v1::SnapshotLimits> LocalBackend::DefaultSnapshotLimits() {
  return plane_->DefaultSnapshotLimits();
}

absl::StatusOr<runyard::v1::Run> LocalBackend::Submit(const runyard::v1::RunSpec& spec,
                                                      const runyard::v1::SnapshotLimits& limits) {
  return plane_->Submit(spec, limits);
}

namespace {
// Local runs are held by a runyard process ("local:<pid>"); a dead holder means the run
// can never end by itself (no server watches local runs).
bool LocalHolderGone(const runyard::v1::Run& run) {
  if (common::IsTerminal(run.status()) || run.status() == runyard::v1::QUEUED) return false;
  if (!absl::StartsWith(run.agent_id(), "local:")) return false;
  const pid_t pid = static_cast<pid_t>(std::atoi(run.agent_id().c_str() + 6));
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  // A dead process not yet reaped by its parent still answers kill(): look for 'Z'.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
}
}  // namespace

absl::StatusOr<runyard::v1::Run> LocalBackend::Get(const std::string& run_id) {
  absl::StatusOr<runyard::v1::Run> run = plane_->Get(run_id);
  if (run.ok() && LocalHolderGone(*run)) {
    plane_->FailLostRun(run_id, absl::StrCat("the runyard process that ran it (", run->agent_id(),
                                             ") exited before the run ended")).IgnoreError();
    return plane_->Get(run_id);
  }
  return run;
}

absl::StatusOr<std::vector<runyard::v1::Run>> LocalBackend::List(const std::string& experiment, int limit) {
  absl::StatusOr<std::vector<runyard::v1::Run>> runs = plane_->List(experiment, limit);
  if (!runs.ok()) return runs;
  for (auto& run : *runs) {
    if (LocalHolderGone(run)) {
      absl::StatusOr<runyard::v1::Run> updated = Get(run.run_id());
      if (updated.ok()) run = std::move(*updated);
    }
  }
  return runs;
}

absl::StatusOr<runyard::v1::Run> LocalBackend::Cancel(const std::string& run_id) { return plane_->Cancel(run_id); }

absl::StatusOr<std::vector<runyard::v1::FileInfo>> LocalBackend::ListFiles(const std::string& run_id) {
  if (absl::Status exists = plane_->Get(run_id).status(); !exists.ok()) return exists;
  return store_->ListFiles(run_id);
}

absl::Status LocalBackend::ReadFile(const std::string& run_id, const std::string& path, int64_t offset,
                                    const FileChunkSink& sink) {
  absl::StatusOr<fs::path> file = files_->Locate(run_id, path);
  if (!file.ok()) return file.status();
  std::ifstream in(*file, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("run ", run_id, " has no file '", path, "'"));
  in.seekg(0, std::ios::end);
  const int64_t size = in.tellg();
  in.seekg(std::max<int64_t>(offset, 0));
  std::string buffer(1 << 20, '\0');
  bool sent_any = false;
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.gcount() <= 0) break;
    if (absl::Status ok = sink(std::string_view(buffer.data(), static_cast<size_t>(in.gcount())), size); !ok.ok()) {
      return ok;
    }
    sent_any = true;
  }
  return sent_any ? absl::OkStatus() : sink(std::string_view(), size);
}

absl::StatusOr<runyard::v1::Run> LocalBackend::Watch(
    const std::string& run_id, int64_t log_offset, const std::function<void(std::string_view)>& on_log,
    const std::function<void(const runyard::v1::Run&)>& on_run) {
  absl::StatusOr<fs::path> log_path = files_->Locate(run_id, "user_logs/std_log.txt");
  if (!log_path.ok()) return log_path.status();
  size_t seen_history = 0;
  std::string buffer(1 << 16, '\0');
  while (true) {
    // In the process that executes the run this wakes on every change; another process
    // sharing the database notices changes within the wait below.
    const uint64_t version = plane_->Version();
    absl::StatusOr<runyard::v1::Run> run = Get(run_id);
    if (!run.ok()) return run.status();
    if (static_cast<size_t>(run->history_size()) != seen_history) {
      seen_history = static_cast<size_t>(run->history_size());
      if (on_run) on_run(*run);
    }
    std::ifstream in(*log_path, std::ios::binary);
    if (in) {
      in.seekg(log_offset);
      while (in) {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        if (in.gcount() <= 0) break;
        on_log(std::string_view(buffer.data(), static_cast<size_t>(in.gcount())));
        log_offset += in.gcount();
      }
    }
    if (common::IsTerminal(run->status())) return run;
    plane_->WaitForChange(version, std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
  }
}

}  // namespace runyard::cli
