// ControlPlane::Watch: the one loop behind `runyard logs -f` and `runyard run`, remote
// (RunsService::Watch streams its events) and local (LocalBackend::Watch).

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "common/status_names.h"
#include "server/chunk_reader.h"
#include "server/control_plane.h"

namespace runyard::server {

namespace {

constexpr char kMainLog[] = "user_logs/std_log.txt";

// A watch streams logs only: a file under user_logs/, named without "." or ".." steps.
absl::Status CheckWatchedLog(const std::string& path) {
  if (!absl::StartsWith(path, "user_logs/") || path.size() == std::strlen("user_logs/")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "watch: log_path '", path, "' must name a file under user_logs/, such as ", kMainLog));
  }
  for (absl::string_view step : absl::StrSplit(path, '/')) {
    if (step.empty() || step == "." || step == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("watch: log_path '", path, "' must not have '.', '..' or empty steps"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<runyard::v1::Run> ControlPlane::Watch(
    const std::string& run_id, int64_t log_offset,
    const std::function<bool(const runyard::v1::WatchEvent&)>& emit,
    const std::function<bool()>& cancelled) {
  runyard::v1::WatchRequest request;
  request.set_run_id(run_id);
  request.set_log_offset(log_offset);
  return Watch(request, emit, cancelled);
}

absl::StatusOr<runyard::v1::Run> ControlPlane::Watch(
    const runyard::v1::WatchRequest& request,
    const std::function<bool(const runyard::v1::WatchEvent&)>& emit,
    const std::function<bool()>& cancelled) {
  const std::string& run_id = request.run_id();
  const std::string watched = request.log_path().empty() ? kMainLog : request.log_path();
  RETURN_IF_ERROR(CheckWatchedLog(watched));
  ASSIGN_OR_RETURN(const std::filesystem::path log_path, files_->Locate(run_id, watched));
  int64_t offset = std::max<int64_t>(request.log_offset(), 0);
  runyard::v1::RunStatus sent_status = runyard::v1::RUN_STATUS_UNSPECIFIED;
  int sent_history = 0;
  runyard::v1::Run run;
  while (!cancelled()) {
    const uint64_t version = Version();
    ASSIGN_OR_RETURN(run, Get(run_id));
    if (run.status() != sent_status || run.history_size() != sent_history) {
      runyard::v1::WatchEvent event;
      *event.mutable_run() = run;
      if (!emit(event)) return run;
      sent_status = run.status();
      sent_history = run.history_size();
    }
    // The log after the status: bytes written before a terminal status are all there now.
    if (absl::StatusOr<ChunkReader> log = ChunkReader::Open(log_path); log.ok()) {
      runyard::v1::WatchEvent event;
      while (offset < log->size()) {
        RETURN_IF_ERROR(log->ReadAt(offset, event.mutable_log_bytes()));
        if (event.log_bytes().empty()) break;  // truncated since it was opened
        event.set_log_offset(offset);
        if (!emit(event)) return run;
        offset += static_cast<int64_t>(event.log_bytes().size());
      }
    } else if (!absl::IsNotFound(log.status())) {
      return log.status();
    }  // no log yet: the run has not printed anything
    if (common::IsTerminal(run.status())) return run;
    if (Stopping()) return absl::UnavailableError("the control plane is shutting down");
    WaitForChange(version, std::chrono::steady_clock::now() + options_.watch_recheck);
  }
  return run;
}

}  // namespace runyard::server
