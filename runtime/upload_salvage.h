#pragma once

#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include "runtime/cancel_token.h"
#include "runtime/reporting_observer.h"

namespace runyard::runtime {

// Finishes what an agent process that died (SIGKILL, crash, a restart in the middle of a
// run) left in its runs' upload spools: the spooled bytes and statuses, then a last scan
// of each run's outputs/ and logs/ (what the script wrote after the last live scan), and
// the run ends Failed / AgentLost unless its terminal status was already spooled. The run
// was never finished by anyone else: the spool and its lease were still there.
class UploadSalvage {
 public:
  // `spool_dir`: <work_dir>/spool (<run_id>, <run_id>.lease, <run_id>.sent);
  // `runs_dir`: <work_dir>/runs (<run_id>/wd/outputs, logs).
  UploadSalvage(RunReporter* reporter, std::filesystem::path spool_dir, std::filesystem::path runs_dir);
  ~UploadSalvage();  // waits until everything left was sent or given up

  // Scans each left run's folders into its spool now (before the caller unmounts what
  // the dead process left mounted), then sends in the background. Returns how many runs.
  int Start();

 private:
  struct LeftRun {
    std::filesystem::path spool_file;
    bool ended = false;
    CancelToken unused;  // nothing to cancel: the run's processes are gone
    std::unique_ptr<ReportingObserver> observer;
  };
  static void Finish(LeftRun& left);

  RunReporter* reporter_;
  std::filesystem::path spool_dir_;
  std::filesystem::path runs_dir_;
  std::vector<std::unique_ptr<LeftRun>> left_;
  std::vector<std::thread> senders_;
};

}  // namespace runyard::runtime
