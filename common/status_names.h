#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "runyard/v1/run.pb.h"
#include "runyard/v1/services.pb.h"

namespace runyard::common {

// "Completed", "CancelRequested", ... as users know them from Azure ML.
std::string StatusName(runyard::v1::RunStatus status);
std::optional<runyard::v1::RunStatus> ParseStatusName(std::string_view name);

// Completed, Failed or Canceled: nothing will change any more.
bool IsTerminal(runyard::v1::RunStatus status);

// "idle", "busy", "draining", "lost", "offline" (`runyard agents`, the server's metrics).
std::string AgentStateName(runyard::v1::AgentState state);

}  // namespace runyard::common
