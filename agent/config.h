#pragma once

#include <filesystem>
#include <string>

#include "absl/status/statusor.h"

namespace runyard::agent {

// Everything runyard-agent is told: from its YAML config file, then command-line flags.
struct AgentConfig {
  std::string server = "127.0.0.1:7878";
  std::string pool = "default";
  std::filesystem::path work_dir = "/var/lib/runyard-agent";
  int slots = 1;
  std::string name;  // defaults to the host name
  int kill_grace_seconds = 30;
  // Quota of the node's snapshot blob cache (<work_dir>/cas); least recently used blobs
  // of finished runs go first.
  int64_t cache_max_bytes = 10LL << 30;
  // auto: an overlay on hardlinks into the cache where the agent may mount (root), else
  // copies; copy; overlay (fail runs where it cannot mount).
  std::string snapshot_materialization = "auto";
  std::string log_level = "info";
};

// Reads a config file (keys as the struct's fields); an unknown key or a value of the
// wrong type is an error naming the key.
absl::Status LoadAgentConfigFile(const std::filesystem::path& file, AgentConfig* config);

// Checks values that came from anywhere.
absl::Status ValidateAgentConfig(const AgentConfig& config);

}  // namespace runyard::agent
