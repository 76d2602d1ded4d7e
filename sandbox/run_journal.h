#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "sandbox/containment.h"

namespace runyard::sandbox {

// Remembers on disk the containment of each run in progress, so that an agent that was
// killed (SIGKILL, OOM) can, at its next start, kill what is left of its runs and remove
// their cgroups. One small file per run, named by the run id; runs on other threads may
// record and forget at the same time.
class RunJournal {
 public:
  // `dir` (e.g. <work_dir>/state/runs) is created if missing.
  explicit RunJournal(std::filesystem::path dir);

  // Before the run's first process starts. Writes the run's file atomically (a temporary
  // file renamed): the mode, the cgroup folders, the tag.
  absl::Status Record(const std::string& run_id, const Containment& containment, const std::string& tag);

  // Once nothing of the run is left.
  void Forget(const std::string& run_id);

  struct Leftover {
    std::string run_id;
    int processes_killed = 0;
    bool cgroups_removed = false;  // true too where the run had none or they were gone
  };
  // Kills every process left of the recorded runs (by their cgroup, or by their tag in the
  // process-group mode), waits (bounded) until they are gone, removes their cgroups and
  // forgets them; a run whose processes or cgroups outlive the wait stays recorded, for the
  // next start. A corrupt entry is logged and dropped: a folder is only touched where it
  // lies on a cgroup filesystem, is named by the run id and sits in a "runyard" folder.
  std::vector<Leftover> CleanUpLeftovers();

 private:
  std::filesystem::path dir_;
};

}  // namespace runyard::sandbox
