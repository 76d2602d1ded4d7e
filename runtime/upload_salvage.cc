#include "runtime/upload_salvage.h"

#include <fstream>
#include <sstream>

#include "common/logging.h"
#include "common/run_error_code.h"
#include "common/status_names.h"
#include "runtime/cancel_token.h"
#include "runtime/file_sync.h"
#include "runtime/records_follower.h"
#include "runtime/run_api_channel.h"
#include "runtime/upload_spool.h"

namespace runyard::runtime {
namespace fs = std::filesystem;
namespace {

auto Log() { return common::Logger("agent"); }

// Whether the spool holds the run's terminal status (then the run ended normally and only
// its sending was cut short).
bool HoldsTerminalStatus(const fs::path& spool_file) {
  absl::StatusOr<std::unique_ptr<UploadSpool>> spool = UploadSpool::Open(spool_file);
  if (!spool.ok()) return false;
  for (int64_t position = 0;;) {
    std::optional<std::pair<SpoolRecord, int64_t>> record = (*spool)->ReadAt(position);
    if (!record) return false;
    if (record->first.kind == SpoolRecord::Kind::kStatus) {
      runyard::v1::UpdateStatusRequest request;
      if (request.ParseFromString(record->first.payload) && common::IsTerminal(request.status()))
        return true;
    }
    position = record->second;
  }
}

// The in-run API's records.jsonl, all of it, from offset 0 and without starting the run
// file over: the server skips the bytes it already has, and the records it already
// ingested are never read twice. (Unlike outputs/, the file is append-only: nothing the
// dead process sent can differ from it.)
void SpoolRecords(const fs::path& run_root, RunObserver& observer) {
  const fs::path records = RunApiChannelAt(run_root).records;
  std::error_code ec;
  const auto size = static_cast<int64_t>(fs::file_size(records, ec));
  if (ec) return;  // a run that never got that far
  for (int64_t from = 0; from < size; from += RecordsFollower::kMaxRangeBytes) {
    observer.OnFileRange(kRunRecordsHistoryPath, records, from,
                         std::min(RecordsFollower::kMaxRangeBytes, size - from));
  }
}

void RemoveSpool(const fs::path& spool_file) {
  std::error_code ec;
  for (const char* suffix : {"", ".sent", ".lease", ".secrets"}) fs::remove(spool_file.string() + suffix, ec);
}

}  // namespace

UploadSalvage::UploadSalvage(RunReporter* reporter, fs::path spool_dir, fs::path runs_dir)
    : reporter_(reporter), spool_dir_(std::move(spool_dir)), runs_dir_(std::move(runs_dir)) {}

UploadSalvage::~UploadSalvage() {
  for (std::thread& sender : senders_) sender.join();
}

int UploadSalvage::Start() {
  std::error_code ec;
  if (!fs::is_directory(spool_dir_, ec)) return 0;
  int started = 0;
  for (const fs::directory_entry& entry : fs::directory_iterator(spool_dir_, ec)) {
    if (entry.path().extension() != ".lease") continue;
    const fs::path spool_file = entry.path().parent_path() / entry.path().stem();
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    runyard::v1::Lease lease;
    if (!lease.ParseFromString(bytes.str()) || lease.run_id().empty() ||
        lease.run_id() != spool_file.filename().string()) {
      Log()->warn("upload spool {}: unreadable lease; removed", entry.path().string());
      RemoveSpool(spool_file);
      continue;
    }
    const bool ended = HoldsTerminalStatus(spool_file);
    Log()->warn("run {} was left {} by an agent that did not stop cleanly: finishing its upload",
                lease.run_id(), ended ? "ended but not fully sent" : "running");
    ++started;
    auto left = std::make_unique<LeftRun>();
    left->spool_file = spool_file;
    left->ended = ended;
    left->observer =
        std::make_unique<ReportingObserver>(reporter_, lease, &left->unused, spool_file);
    if (!ended) {
      // What the script wrote after the last live scan (bytes the server has are skipped
      // there), read now, while an overlay the dead process left is still mounted.
      const fs::path working_dir = runs_dir_ / lease.run_id() / "wd";
      // Whole files: what the dead process sent of each (an older version?) is unknown.
      DirectorySync sync({{working_dir / "outputs", "outputs"}, {working_dir / "logs", "logs"}},
                         left->observer.get(), /*resend_whole=*/true);
      sync.Scan(/*final_scan=*/true);
      SpoolRecords(runs_dir_ / lease.run_id(), *left->observer);
    }
    LeftRun* raw = left.get();
    left_.push_back(std::move(left));
    senders_.emplace_back([raw] { Finish(*raw); });
  }
  return started;
}

void UploadSalvage::Finish(LeftRun& left) {
  if (left.ended) {
    if (left.observer->Drain()) RemoveSpool(left.spool_file);
  } else {
    RunOutcome outcome;
    outcome.status = runyard::v1::FAILED;
    outcome.error.set_code(common::ToString(common::RunErrorCode::kAgentLost));
    outcome.error.set_message(
        "the agent stopped (crash, kill or restart) while the run was running; what the run had "
        "written was "
        "uploaded when the agent started again");
    left.observer->OnFinished(outcome);
  }
  left.observer.reset();
  Log()->info("{}: upload left by the previous agent process finished",
              left.spool_file.filename().string());
}

}  // namespace runyard::runtime
