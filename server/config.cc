#include "server/config.h"

#include <spdlog/spdlog.h>

#include "absl/strings/numbers.h"
#include "server/server_credentials.h"

namespace runyard::server {

void DescribeServerConfig(ServerConfig* config, common::ConfigTable* table) {
  table->Add("listen", "address:port to serve gRPC on (port 0 picks one)", &config->listen);
  table->Add("data_dir", "where the database, blobs and run files live", &config->data_dir);
  table->Add("lease_seconds", "an agent silent this long makes its runs NotResponding", &config->lease_seconds);
  table->Add("agent_lost_seconds", "NotResponding this long more ends a run Failed/AgentLost",
             &config->agent_lost_seconds);
  table->Add("max_snapshot_mb", "largest snapshot accepted when the submitter sets no limit (MB)",
             &config->max_snapshot_mb);
  table->Add("max_snapshot_files", "most files in a snapshot when the submitter sets no limit",
             &config->max_snapshot_files);
  table->Add("max_metric_values_per_run",
             "most metric values one run may log (records past it are refused)",
             &config->max_metric_values_per_run);
  table->Add("max_children_per_run", "most child runs one run may create",
             &config->max_children_per_run);
  table->Add("max_tags_per_run", "most tags one run may have (and, apart, most properties)",
             &config->max_tags_per_run);
  table->Add("gang_start_timeout_seconds",
             "a distributed run's nodes must all be Running this long after the hand-out, else "
             "the attempt is stopped and the run retried (failed after 3 attempts)",
             &config->gang_start_timeout_seconds);
  table->Add("gang_port_range",
             "FIRST-LAST: the ports given to distributed runs (MASTER_PORT, TensorFlow tasks); "
             "each active run gets a range of its own",
             &config->gang_port_range);
  table->Add("http_listen", "host:port for /healthz and /metrics (empty: off)", &config->http_listen);
  table->Add("tls_cert_file", "PEM certificate (chain) served on listen and http_listen", &config->tls_cert_file);
  table->Add("tls_key_file", "PEM private key of tls_cert_file", &config->tls_key_file);
  table->Add("tls_client_ca_file", "PEM CA that client certificates (mTLS) must be signed by",
             &config->tls_client_ca_file);
  table->Add("tls_require_client_cert", "refuse clients without a certificate signed by tls_client_ca_file",
             &config->tls_require_client_cert);
  table->Add("insecure_plaintext",
             "serve without TLS (allowed only when listen is a loopback address)",
             &config->insecure_plaintext);
  table->Add("admin_token_file",
             "where the first admin token is written when there is none (empty: <data_dir>/admin-token)",
             &config->admin_token_file);
  table->Add("max_requests_per_second", "requests one token may make per second (bursts of twice that)",
             &config->max_requests_per_second);
  table->Add("log_level", "trace, debug, info, warn or error", &config->log_level);
  table->Add("log_file", "also log to this file (empty: stderr only)", &config->log_file);
}

absl::StatusOr<std::pair<int, int>> ParsePortRange(const std::string& range) {
  const auto invalid = [&] {
    return absl::InvalidArgumentError("gang_port_range must be FIRST-LAST, ports 1..65535 with "
                                      "FIRST <= LAST (as 29500-30499), not '" + range + "'");
  };
  const size_t dash = range.find('-');
  if (dash == std::string::npos) return invalid();
  int first = 0;
  int last = 0;
  if (!absl::SimpleAtoi(range.substr(0, dash), &first) ||
      !absl::SimpleAtoi(range.substr(dash + 1), &last) || first < 1 || last > 65535 ||
      first > last) {
    return invalid();
  }
  return std::make_pair(first, last);
}

std::filesystem::path AdminTokenFile(const ServerConfig& config) {
  if (!config.admin_token_file.empty()) return config.admin_token_file;
  return std::filesystem::path(config.data_dir) / "admin-token";
}

absl::Status ValidateServerConfig(const ServerConfig& config) {
  if (config.listen.rfind(':') == std::string::npos) {
    return absl::InvalidArgumentError("listen must be address:port, not '" + config.listen + "'");
  }
  if (config.data_dir.empty()) return absl::InvalidArgumentError("data_dir must be set");
  if (config.lease_seconds <= 0) return absl::InvalidArgumentError("lease_seconds must be positive");
  if (config.agent_lost_seconds <= 0) return absl::InvalidArgumentError("agent_lost_seconds must be positive");
  if (config.max_snapshot_mb <= 0) return absl::InvalidArgumentError("max_snapshot_mb must be positive");
  if (config.max_snapshot_files <= 0) return absl::InvalidArgumentError("max_snapshot_files must be positive");
  if (config.max_metric_values_per_run <= 0) {
    return absl::InvalidArgumentError("max_metric_values_per_run must be positive");
  }
  if (config.max_children_per_run <= 0) {
    return absl::InvalidArgumentError("max_children_per_run must be positive");
  }
  if (config.max_tags_per_run <= 0) {
    return absl::InvalidArgumentError("max_tags_per_run must be positive");
  }
  if (config.gang_start_timeout_seconds <= 0) {
    return absl::InvalidArgumentError("gang_start_timeout_seconds must be positive");
  }
  if (absl::Status range = ParsePortRange(config.gang_port_range).status(); !range.ok()) {
    return range;
  }
  if (!config.http_listen.empty() && config.http_listen.rfind(':') == std::string::npos) {
    return absl::InvalidArgumentError("http_listen must be host:port, not '" + config.http_listen + "'");
  }
  if (config.max_requests_per_second <= 0) {
    return absl::InvalidArgumentError("max_requests_per_second must be positive");
  }
  if (absl::Status transport = ValidateServerTransport(config); !transport.ok()) return transport;
  if (const auto level = spdlog::level::from_str(config.log_level);
      level == spdlog::level::off && config.log_level != "off") {
    return absl::InvalidArgumentError("log_level must be trace, debug, info, warn, error or off, not '" +
                                      config.log_level + "'");
  }
  return absl::OkStatus();
}

}  // namespace runyard::server
