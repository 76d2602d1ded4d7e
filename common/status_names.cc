#include "common/status_names.h"

#include <array>
#include <utility>

namespace runyard::common {
namespace {
using runyard::v1::RunStatus;

constexpr std::array<std::pair<RunStatus, std::string_view>, 12> kNames{{
    {runyard::v1::RUN_STATUS_UNSPECIFIED, "Unknown"},
    {runyard::v1::NOT_STARTED, "NotStarted"},
    {runyard::v1::QUEUED, "Queued"},
    {runyard::v1::PREPARING, "Preparing"},
    {runyard::v1::STARTING, "Starting"},
    {runyard::v1::RUNNING, "Running"},
    {runyard::v1::FINALIZING, "Finalizing"},
    {runyard::v1::COMPLETED, "Completed"},
    {runyard::v1::FAILED, "Failed"},
    {runyard::v1::CANCELED, "Canceled"},
    {runyard::v1::CANCEL_REQUESTED, "CancelRequested"},
    {runyard::v1::NOT_RESPONDING, "NotResponding"},
}};
}  // namespace

std::string StatusName(RunStatus status) {
  for (const auto& [value, name] : kNames) {
    if (value == status) return std::string(name);
  }
  return "Unknown";
}

std::optional<RunStatus> ParseStatusName(std::string_view name) {
  for (const auto& [value, known] : kNames) {
    if (known == name) return value;
  }
  return std::nullopt;
}

bool IsTerminal(RunStatus status) {
  return status == runyard::v1::COMPLETED || status == runyard::v1::FAILED ||
         status == runyard::v1::CANCELED;
}

std::string AgentStateName(runyard::v1::AgentState state) {
  switch (state) {
    case runyard::v1::AGENT_STATE_IDLE:
      return "idle";
    case runyard::v1::AGENT_STATE_BUSY:
      return "busy";
    case runyard::v1::AGENT_STATE_DRAINING:
      return "draining";
    case runyard::v1::AGENT_STATE_LOST:
      return "lost";
    case runyard::v1::AGENT_STATE_OFFLINE:
      return "offline";
    default:
      return "unknown";
  }
}

}  // namespace runyard::common
