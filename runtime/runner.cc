#include "runtime/runner.h"

#include <optional>

#include "common/secret_names.h"
#include "runtime/node_file_paths_observer.h"
#include "runtime/run_stages.h"

namespace runyard::runtime {

// The stages of a run, in order (docs/architecture.md, "The life of a run"). Each returns
// the outcome when the run ends there; the statuses between them are what the user sees.
RunOutcome Runner::Run(const std::string& run_id, const runyard::v1::RunSpec& spec,
                       CancelToken& cancel, const runyard::v1::GangPlacement* placement) {
  // Node k > 0 of a distributed run writes its files beside node 0's, not over them.
  std::optional<NodeFilePathsObserver> node_files;
  RunObserver* observer = observer_;
  if (placement != nullptr && placement->node_rank() > 0) {
    observer = &node_files.emplace(placement->node_rank(), observer_);
  }
  RunStages run(options_, blobs_, observer, run_id, spec, cancel, placement);

  observer->OnSecrets(common::SecretValues(spec));  // before the first log line
  observer->OnStatus(runyard::v1::PREPARING);
  if (StageResult ended = run.CreateWorkspace()) return run.End(*ended);
  if (StageResult ended = run.FetchSnapshot()) return run.End(*ended);
  if (StageResult ended = run.PrepareRunFolders()) return run.End(*ended);
  if (StageResult ended = run.PrepareEnvironment()) return run.End(*ended);
  if (StageResult ended = run.BuildCommandLine()) return run.End(*ended);
  if (StageResult ended = run.PlanDistributedLaunch()) return run.End(*ended);
  if (StageResult ended = run.CheckNotCanceled()) return run.End(*ended);

  observer->OnStatus(runyard::v1::STARTING);
  run.ContainProcesses();
  run.ChooseSandbox();
  run.ApplyLimits();
  if (StageResult ended = run.LaunchAndWait()) return run.End(*ended);  // Running once started

  observer->OnStatus(runyard::v1::FINALIZING);
  run.Finalize();
  return run.End(run.JudgeOutcome());
}

}  // namespace runyard::runtime
