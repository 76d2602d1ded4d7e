#include "agent/env_command.h"

#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

#include "common/snapshot_manifest.h"
#include "runtime/env_cache.h"

namespace runyard::agent {
namespace fs = std::filesystem;
namespace {

std::string Age(fs::file_time_type when) {
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(fs::file_time_type::clock::now() - when).count();
  if (seconds < 120) return std::to_string(seconds) + " s ago";
  if (seconds < 7200) return std::to_string(seconds / 60) + " min ago";
  if (seconds < 172800) return std::to_string(seconds / 3600) + " h ago";
  return std::to_string(seconds / 86400) + " days ago";
}

}  // namespace

int EnvironmentCommand(const AgentConfig& config, bool list, bool prune_all, bool json) {
  runtime::EnvironmentCache cache(config.work_dir / "envs", config.env_cache_max_bytes);
  if (!list) {
    const int64_t freed = prune_all ? cache.PruneUnused() : cache.EvictToQuota();
    std::printf("freed %s\n", common::HumanBytes(freed).c_str());
    return 0;
  }
  std::vector<runtime::EnvironmentCache::Entry> entries = cache.List();
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& entry : entries) {
      out.push_back({{"key", entry.key},
                     {"kind", entry.summary},
                     {"size", entry.size},
                     {"prefix", entry.prefix.string()},
                     {"in_use", entry.in_use},
                     {"last_used_seconds_ago",
                      std::chrono::duration_cast<std::chrono::seconds>(fs::file_time_type::clock::now() -
                                                                       entry.last_used).count()}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("%-14s %-12s %10s  %-14s %s\n", "KEY", "KIND", "SIZE", "LAST USED", "IN USE");
  for (const auto& entry : entries) {
    std::printf("%-14s %-12s %10s  %-14s %s\n", entry.key.substr(0, 12).c_str(), entry.summary.c_str(),
                common::HumanBytes(entry.size).c_str(), Age(entry.last_used).c_str(), entry.in_use ? "yes" : "");
  }
  return 0;
}

}  // namespace runyard::agent
