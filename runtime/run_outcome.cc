#include "runtime/run_outcome.h"

#include <string.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"

namespace runyard::runtime {
using common::RunErrorCode;

RunOutcome Failure(runyard::v1::RunStatus status, RunErrorCode code, const std::string& message) {
  RunOutcome outcome;
  outcome.status = status;
  outcome.error.set_code(common::ToString(code));
  outcome.error.set_message(message);
  return outcome;
}

RunOutcome JudgeProcess(const LaunchResult& result, const runyard::v1::RunSpec& spec,
                        CancelToken::Reason cancel_reason) {
  // A process killed by a signal gets the shell's convention, 128 + signal.
  auto with_exit_code = [&](RunOutcome outcome) {
    outcome.has_exit_code = true;
    outcome.exit_code = result.exited ? result.exit_code : 128 + result.term_signal;
    return outcome;
  };
  if (result.deadline_exceeded) {
    return with_exit_code(
        Failure(runyard::v1::CANCELED, RunErrorCode::kMaxRunDurationExceeded,
                absl::StrCat("the run exceeded max_run_duration_seconds (",
                             spec.max_run_duration_seconds(), " s) and was stopped")));
  }
  if (result.canceled) {
    return with_exit_code(
        cancel_reason == CancelToken::Reason::kAgentShutdown
            ? Failure(runyard::v1::FAILED, RunErrorCode::kAgentShutdown,
                      "the agent was shut down while the run was running")
            : Failure(runyard::v1::CANCELED, RunErrorCode::kCanceled, "the run was canceled"));
  }
  RunOutcome outcome = with_exit_code(RunOutcome{});
  std::vector<int> success(spec.successful_return_codes().begin(),
                           spec.successful_return_codes().end());
  if (success.empty()) success.push_back(0);
  if (result.exited &&
      std::find(success.begin(), success.end(), result.exit_code) != success.end()) {
    outcome.status = runyard::v1::COMPLETED;
    return outcome;
  }
  outcome.status = runyard::v1::FAILED;
  outcome.error.set_code(common::ToString(RunErrorCode::kUserError));
  if (result.exited) {
    outcome.error.set_message(absl::StrCat("the script exited with code ", result.exit_code,
                                           "; see user_logs/std_log.txt"));
  } else {
    outcome.error.set_message(absl::StrCat("the script was killed by signal ", result.term_signal,
                                           " (", strsignal(result.term_signal),
                                           "); see user_logs/std_log.txt"));
  }
  return outcome;
}

RunOutcome JudgeRun(const LaunchResult& result, const sandbox::Containment::Usage& usage,
                    const runyard::v1::RunSpec& spec, CancelToken::Reason cancel_reason,
                    std::string_view sandbox_name) {
  if (!result.sandbox_error.empty()) {
    return Failure(runyard::v1::FAILED, RunErrorCode::kSandboxSetupFailed,
                   absl::StrCat(std::string(sandbox_name),
                                " could not set up the run's sandbox: ", result.sandbox_error));
  }
  RunOutcome outcome = JudgeProcess(result, spec, cancel_reason);
  if (usage.oom_killed && outcome.status != runyard::v1::COMPLETED && !result.deadline_exceeded &&
      !result.canceled) {
    const RunOutcome judged = outcome;
    outcome = Failure(runyard::v1::FAILED, RunErrorCode::kOutOfMemory,
                      absl::StrCat("the run used more than its memory limit (resources.memory_mb: ",
                                   spec.resources().memory_mb(), ") and the kernel killed it"));
    outcome.has_exit_code = judged.has_exit_code;
    outcome.exit_code = judged.exit_code;
  }
  if (usage.measured) {
    outcome.usage.set_measured(true);
    outcome.usage.set_cpu_seconds(usage.cpu_seconds);
    outcome.usage.set_peak_memory_bytes(usage.peak_memory_bytes);
    outcome.usage.set_peak_pids(usage.peak_pids);
  }
  return outcome;
}

}  // namespace runyard::runtime
