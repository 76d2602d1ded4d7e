#pragma once

#include <cstdint>
#include <filesystem>
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
  // TLS for gRPC and http_listen. Both files are needed unless insecure_plaintext is set,
  // which is allowed only on a loopback listen address.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Client certificates (mTLS) are verified against this CA when given, and required when
  // tls_require_client_cert is set.
  std::string tls_client_ca_file;
  bool tls_require_client_cert = false;
  bool insecure_plaintext = false;
  // Where the first admin token is written when the store has none; empty:
  // <data_dir>/admin-token (see AdminTokenFile).
  std::string admin_token_file;
  // Requests one identity may make per second (bursts of twice that) before RESOURCE_EXHAUSTED.
  int max_requests_per_second = 2000;
  std::string log_level = "info";
  std::string log_file;
};

// Every key, bound to `config`, for the file reader, the flags and --check-config.
void DescribeServerConfig(ServerConfig* config, common::ConfigTable* table);

// "FIRST-LAST" (both ends included, 1..65535, FIRST <= LAST) as its two ports.
absl::StatusOr<std::pair<int, int>> ParsePortRange(const std::string& range);

// admin_token_file, or <data_dir>/admin-token when it is empty.
std::filesystem::path AdminTokenFile(const ServerConfig& config);

// Checks values that came from anywhere; the error names the key. The TLS files are read,
// so a bad certificate or key stops the server before it listens.
absl::Status ValidateServerConfig(const ServerConfig& config);

}  // namespace runyard::server
