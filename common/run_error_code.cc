#include "common/run_error_code.h"

#include <array>
#include <utility>

namespace runyard::common {
namespace {

constexpr std::array<std::pair<RunErrorCode, std::string_view>, 13> kNames = {{
    {RunErrorCode::kUserError, "UserError"},
    {RunErrorCode::kMaxRunDurationExceeded, "MaxRunDurationExceeded"},
    {RunErrorCode::kCanceled, "Canceled"},
    {RunErrorCode::kEnvironmentBuildFailed, "EnvironmentBuildFailed"},
    {RunErrorCode::kSnapshotRejected, "SnapshotRejected"},
    {RunErrorCode::kSnapshotUnavailable, "SnapshotUnavailable"},
    {RunErrorCode::kSandboxSetupFailed, "SandboxSetupFailed"},
    {RunErrorCode::kOutOfMemory, "OutOfMemory"},
    {RunErrorCode::kAgentLost, "AgentLost"},
    {RunErrorCode::kAgentShutdown, "AgentShutdown"},
    {RunErrorCode::kNodeError, "NodeError"},
    {RunErrorCode::kParentRunEnded, "ParentRunEnded"},
    {RunErrorCode::kGangStartTimeout, "GangStartTimeout"},
}};

}  // namespace

std::string_view RunErrorCodeName(RunErrorCode code) {
  for (const auto& [known, name] : kNames) {
    if (known == code) return name;
  }
  return "Unknown";
}

std::optional<RunErrorCode> ParseRunErrorCode(std::string_view name) {
  for (const auto& [code, known] : kNames) {
    if (known == name) return code;
  }
  return std::nullopt;
}

}  // namespace runyard::common
