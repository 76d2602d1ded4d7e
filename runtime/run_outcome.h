#pragma once

// How a run's end becomes what the user is told: status, error code and message.

#include <string>

#include "common/run_error_code.h"
#include "runtime/cancel_token.h"
#include "runtime/launcher.h"
#include "runtime/observer.h"
#include "runyard/v1/spec.pb.h"
#include "sandbox/containment.h"

namespace runyard::runtime {

// A run that ended with `status`, `code` and `message`.
RunOutcome Failure(runyard::v1::RunStatus status, common::RunErrorCode code,
                   const std::string& message);

// What the run's process did, judged: Completed when it exited with a successful code;
// Canceled (MaxRunDurationExceeded, Canceled) or Failed (AgentShutdown) when it was
// stopped; else Failed / UserError. A process killed by a signal gets 128 + signal.
RunOutcome JudgeProcess(const LaunchResult& result, const runyard::v1::RunSpec& spec,
                        CancelToken::Reason cancel_reason);

// The run's whole outcome once its processes are gone: a sandbox that could not be set up
// (SandboxSetupFailed, named by `sandbox_name`), else the process judged, turned into
// OutOfMemory when the kernel killed it for its memory limit, with what it used.
RunOutcome JudgeRun(const LaunchResult& result, const sandbox::Containment::Usage& usage,
                    const runyard::v1::RunSpec& spec, CancelToken::Reason cancel_reason,
                    std::string_view sandbox_name);

}  // namespace runyard::runtime
