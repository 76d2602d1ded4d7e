#include "cli/agent_listing.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/render.h"
#include "cli/text_table.h"
#include "common/status_names.h"

namespace runyard::cli {
namespace {

// Memory the way `free -h` counts it (1 GiB = 1024³ bytes).
std::string MemoryText(int64_t bytes) {
  constexpr double kGiB = 1024.0 * 1024 * 1024;
  if (bytes <= 0) return "?";
  if (bytes < 1024LL * 1024 * 1024)
    return absl::StrFormat("%.0f MiB", static_cast<double>(bytes) / (1024 * 1024));
  return absl::StrFormat("%.1f GiB", static_cast<double>(bytes) / kGiB);
}

// "2x NVIDIA A100-SXM4-80GB": how many of each model, "-" for none.
std::string GpuText(const runyard::v1::Capabilities& capabilities) {
  if (capabilities.gpus().empty()) return "-";
  std::vector<std::pair<std::string, int>> models;  // in the order nvidia-smi lists them
  for (const auto& gpu : capabilities.gpus()) {
    auto same = std::find_if(models.begin(), models.end(),
                             [&](const auto& m) { return m.first == gpu.name(); });
    if (same == models.end()) {
      models.emplace_back(gpu.name(), 1);
    } else {
      ++same->second;
    }
  }
  return absl::StrJoin(models, ", ", [](std::string* out, const auto& model) {
    absl::StrAppend(out, model.second, "x ", model.first);
  });
}

std::string LabelText(const runyard::v1::Capabilities& capabilities) {
  if (capabilities.labels().empty()) return "-";
  const std::map<std::string, std::string> sorted(capabilities.labels().begin(),
                                                  capabilities.labels().end());
  return absl::StrJoin(sorted, ",", absl::PairFormatter("="));
}

}  // namespace

std::string Ago(int64_t then_unix_ms, int64_t now_unix_ms) {
  const int64_t seconds =
      std::max<int64_t>(now_unix_ms - then_unix_ms, 0) / 1000;  // clocks may differ a little
  if (seconds < 60) return absl::StrCat(seconds, "s ago");
  if (seconds < 3600) return absl::StrCat(seconds / 60, "m ago");
  if (seconds < 86400) return absl::StrCat(seconds / 3600, "h ago");
  return absl::StrCat(seconds / 86400, "d ago");
}

nlohmann::json AgentsToJson(const std::vector<runyard::v1::AgentInfo>& agents) {
  nlohmann::json json = nlohmann::json::array();
  for (const auto& agent : agents) {
    const runyard::v1::Capabilities& offered = agent.capabilities();
    nlohmann::json gpus = nlohmann::json::array();
    for (const auto& gpu : offered.gpus()) {
      gpus.push_back({{"index", gpu.index()},
                      {"name", gpu.name()},
                      {"memory_bytes", gpu.memory_bytes()},
                      {"uuid", gpu.uuid()}});
    }
    nlohmann::json labels = nlohmann::json::object();
    for (const auto& [name, value] : offered.labels()) labels[name] = value;
    json.push_back({
        {"agent_id", agent.agent_id()},
        {"name", agent.name()},
        {"pool", agent.pool()},
        {"hostname", agent.hostname()},
        {"version", agent.version()},
        {"state", common::AgentStateName(agent.state())},
        {"slots", agent.slots()},
        {"active_run_ids",
         std::vector<std::string>(agent.active_run_ids().begin(), agent.active_run_ids().end())},
        {"capabilities",
         {{"cpus", offered.cpus()},
          {"memory_bytes", offered.memory_bytes()},
          {"gpus", gpus},
          {"labels", labels}}},
        {"registered", IsoTime(agent.registered_unix_ms())},
        {"registered_unix_ms", agent.registered_unix_ms()},
        {"last_heartbeat", IsoTime(agent.last_heartbeat_unix_ms())},
        {"last_heartbeat_unix_ms", agent.last_heartbeat_unix_ms()},
        {"identity", agent.identity()},
    });
  }
  return json;
}

std::string AgentTable(const std::vector<runyard::v1::AgentInfo>& agents, int64_t now_unix_ms) {
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "POOL", "STATE", "CPUS", "MEMORY", "GPUS", "LABELS", "ACTIVE RUNS", "HEARTBEAT", "IDENTITY"}};
  for (const auto& agent : agents) {
    rows.push_back(
        {agent.name(), agent.pool(), common::AgentStateName(agent.state()),
         absl::StrCat(agent.capabilities().cpus()), MemoryText(agent.capabilities().memory_bytes()),
         GpuText(agent.capabilities()), LabelText(agent.capabilities()),
         agent.active_run_ids().empty() ? "-" : absl::StrJoin(agent.active_run_ids(), ","),
         Ago(agent.last_heartbeat_unix_ms(), now_unix_ms), agent.identity().empty() ? "-" : agent.identity()});
  }
  return AlignedTable(rows);
}

}  // namespace runyard::cli
