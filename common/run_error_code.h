#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace runyard::common {

// Why a run did not complete: the `code` of its RunError, as users read it in
// `runyard status` (names as in Azure ML where Azure has one). On the wire and in the
// store the code travels as its name, so the table in run_error_code.cc is the one place
// that spells them.
enum class RunErrorCode {
  kUserError,               // the script exited with a code not in successful_return_codes
  kMaxRunDurationExceeded,  // the deadline struck (status Canceled)
  kCanceled,                // a user canceled the run
  kEnvironmentBuildFailed,  // pip / venv / conda failed
  kSnapshotRejected,        // the snapshot was hostile or over its limits
  kSnapshotUnavailable,     // a blob of the snapshot could not be fetched
  kSandboxSetupFailed,      // the run's containment could not be set up
  kOutOfMemory,             // the run's memory limit killed it
  kAgentLost,               // its agent stopped responding and did not come back
  kAgentShutdown,           // its agent stopped the run when it shut down
  kNodeError,               // the node itself failed (its run folders could not be made)
  kParentRunEnded,          // a child run still open when its parent run ended
  kGangStartTimeout,        // a distributed run's nodes did not all start in time, every attempt
};

// "UserError", "AgentLost", ...
std::string_view RunErrorCodeName(RunErrorCode code);
std::optional<RunErrorCode> ParseRunErrorCode(std::string_view name);

// For RunError.set_code(...): the name as a std::string.
inline std::string ToString(RunErrorCode code) { return std::string(RunErrorCodeName(code)); }

}  // namespace runyard::common
