#include "runtime/runner.h"

#include "runtime/run_stages.h"

namespace runyard::runtime {

// The stages of a run, in order (docs/architecture.md, "The life of a run"). Each returns
// the outcome when the run ends there; the statuses between them are what the user sees.
RunOutcome Runner::Run(const std::string& run_id, const runyard::v1::RunSpec& spec,
                       CancelToken& cancel) {
  RunStages run(options_, blobs_, observer_, run_id, spec, cancel);

  observer_->OnStatus(runyard::v1::PREPARING);
  if (StageResult ended = run.CreateWorkspace()) return run.End(*ended);
  if (StageResult ended = run.FetchSnapshot()) return run.End(*ended);
  if (StageResult ended = run.PrepareRunFolders()) return run.End(*ended);
  if (StageResult ended = run.PrepareEnvironment()) return run.End(*ended);
  if (StageResult ended = run.BuildCommandLine()) return run.End(*ended);
  if (StageResult ended = run.CheckNotCanceled()) return run.End(*ended);

  observer_->OnStatus(runyard::v1::STARTING);
  run.ContainProcesses();
  run.ChooseSandbox();
  run.ApplyLimits();
  if (StageResult ended = run.LaunchAndWait()) return run.End(*ended);  // Running once started

  observer_->OnStatus(runyard::v1::FINALIZING);
  run.Finalize();
  return run.End(run.JudgeOutcome());
}

}  // namespace runyard::runtime
