// ControlPlane::Watch: the one loop behind `runyard logs -f` and `runyard run`, remote
// (RunsService::Watch streams its events) and local (LocalBackend::Watch).

#include "common/status_macros.h"
#include "common/status_names.h"
#include "server/chunk_reader.h"
#include "server/control_plane.h"

namespace runyard::server {

absl::StatusOr<runyard::v1::Run> ControlPlane::Watch(
    const std::string& run_id, int64_t log_offset,
    const std::function<bool(const runyard::v1::WatchEvent&)>& emit,
    const std::function<bool()>& cancelled) {
  ASSIGN_OR_RETURN(const std::filesystem::path log_path,
                   files_->Locate(run_id, "user_logs/std_log.txt"));
  int64_t offset = std::max<int64_t>(log_offset, 0);
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
