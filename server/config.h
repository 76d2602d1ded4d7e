#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/config_table.h"
#include "common/snapshot_manifest.h"

namespace runyard::server {

// Everything runyard-server is told: its YAML config file (/etc/runyard/server.yaml), then
// flags of the same names.
struct ServerConfig {
  std::string listen = "127.0.0.1:7878";
  std::string data_dir = "/var/lib/runyard-server";
  int lease_seconds = 30;
  int agent_lost_seconds = 60;
  int64_t max_snapshot_mb = common::kDefaultMaxSnapshotBytes / 1000000;
  int64_t max_snapshot_files = common::kDefaultMaxSnapshotFiles;
  // The in-run API's ceilings for one run (ControlPlaneOptions of the same names).
  int64_t max_metric_values_per_run = 5'000'000;
  int64_t max_children_per_run = 10'000;
  int64_t max_tags_per_run = 1'000;
  // Distributed runs (ControlPlaneOptions' gang_*): every node must be Running this long
  // after the hand-out, else the attempt is stopped and retried; the ports they are given.
  int gang_start_timeout_seconds = 600;
  std::string gang_port_range = "29500-30499";
  std::string http_listen;  // /healthz and /metrics; empty: off
  std::string log_level = "info";
  std::string log_file;
};

// Every key, bound to `config`, for the file reader, the flags and --check-config.
void DescribeServerConfig(ServerConfig* config, common::ConfigTable* table);

// "FIRST-LAST" (both ends included, 1..65535, FIRST <= LAST) as its two ports.
absl::StatusOr<std::pair<int, int>> ParsePortRange(const std::string& range);

// Checks values that came from anywhere; the error names the key.
absl::Status ValidateServerConfig(const ServerConfig& config);

}  // namespace runyard::server
