#include "server/observability.h"

#include <map>

#include "common/logging.h"
#include "common/ops_endpoint.h"
#include "common/status_macros.h"
#include "common/status_names.h"

namespace runyard::server {
namespace {

using common::MetricType;

auto Log() { return common::Logger("server"); }

}  // namespace

ServerObservability::ServerObservability(const ServerConfig& config, ControlPlane* plane,
                                         std::function<int64_t()> appended_bytes)
    : config_(config), plane_(plane), appended_bytes_(std::move(appended_bytes)) {
  metrics_.AddCollector([this](common::MetricsRegistry& registry) { Collect(registry); });
}

absl::Status ServerObservability::DescribeMetrics() {
  RETURN_IF_ERROR(
      metrics_.Describe("runyard_server_runs", MetricType::kGauge,
                        "Runs by pool (target) and status; the terminal ones only grow."));
  RETURN_IF_ERROR(metrics_.Describe("runyard_server_queue_length", MetricType::kGauge,
                                    "Runs waiting for an agent, by pool."));
  RETURN_IF_ERROR(metrics_.Describe("runyard_server_agents", MetricType::kGauge,
                                    "Registered agents by pool and state."));
  RETURN_IF_ERROR(metrics_.Describe("runyard_server_upload_bytes_total", MetricType::kCounter,
                                    "Bytes of run files (logs, outputs) agents appended."));
  return metrics_.Describe("runyard_server_database_up", MetricType::kGauge,
                           "1 while the database answers.");
}

ServerObservability::~ServerObservability() {
  if (listener_) listener_->Stop();
}

void ServerObservability::Collect(common::MetricsRegistry& registry) {
  common::CheckedMetrics checked(registry, "server");
  for (const char* family : {"runyard_server_runs", "runyard_server_queue_length",
                             "runyard_server_agents", "runyard_server_upload_bytes_total"}) {
    checked.ClearSamples(family);
  }
  absl::StatusOr<std::vector<RunCount>> counts = plane_->CountRuns();
  checked.Set("runyard_server_database_up", {}, counts.ok() ? 1 : 0);
  if (counts.ok()) {
    std::map<std::string, int64_t> queued;
    for (const RunCount& count : *counts) {
      checked.Set("runyard_server_runs",
                  {{"pool", count.target}, {"status", common::StatusName(count.status)}},
                  static_cast<double>(count.count));
      queued[count.target] += count.status == runyard::v1::QUEUED ? count.count : 0;
    }
    for (const auto& [pool, length] : queued) {
      checked.Set("runyard_server_queue_length", {{"pool", pool}}, static_cast<double>(length));
    }
  }
  if (absl::StatusOr<std::vector<runyard::v1::AgentInfo>> agents = plane_->ListAgents("", false);
      agents.ok()) {
    std::map<std::pair<std::string, std::string>, int> by_state;
    for (const auto& agent : *agents)
      ++by_state[{agent.pool(), common::AgentStateName(agent.state())}];
    for (const auto& [key, number] : by_state) {
      checked.Set("runyard_server_agents", {{"pool", key.first}, {"state", key.second}}, number);
    }
  } else {
    Log()->warn("metrics: cannot list the agents: {}", agents.status().ToString());
  }
  checked.Add("runyard_server_upload_bytes_total", {}, static_cast<double>(appended_bytes_()));
}

absl::Status ServerObservability::Start() {
  RETURN_IF_ERROR(DescribeMetrics());
  if (config_.http_listen.empty()) return absl::OkStatus();
  // The same certificate as gRPC; plaintext only where ValidateServerConfig allowed it.
  common::HttpListenerOptions options;
  options.tls_cert_file = config_.tls_cert_file;
  options.tls_key_file = config_.tls_key_file;
  options.insecure_plaintext = config_.insecure_plaintext;
  absl::StatusOr<std::unique_ptr<common::HttpListener>> listener = common::ServeHealthAndMetrics(
      config_.http_listen, &metrics_, [this] { return Health(); }, "server", options);
  if (!listener.ok()) return listener.status();
  listener_ = std::move(listener).value();
  return absl::OkStatus();
}

common::HttpResponse ServerObservability::Health() {
  absl::StatusOr<std::vector<RunCount>> counts = plane_->CountRuns();
  if (!counts.ok()) {
    return common::HttpResponse{
        503, "text/plain; charset=utf-8",
        "unhealthy: the database does not answer: " + counts.status().ToString() + "\n"};
  }
  return common::HttpResponse{200, "text/plain; charset=utf-8", "ok: the database answers\n"};
}

}  // namespace runyard::server
