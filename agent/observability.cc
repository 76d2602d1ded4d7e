#include "agent/observability.h"

#include "common/ops_endpoint.h"
#include "common/status_names.h"

namespace runyard::agent {
namespace {

using common::MetricType;

double SecondsSince(std::chrono::steady_clock::time_point then) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - then).count();
}

}  // namespace

AgentObservability::AgentObservability(const AgentConfig& config, AgentGauges gauges)
    : config_(config), gauges_(std::move(gauges)) {
  metrics_.Describe("runyard_agent_runs_started_total", MetricType::kCounter, "Runs this agent started.").IgnoreError();
  metrics_.Describe("runyard_agent_runs_finished_total", MetricType::kCounter,
                    "Runs this agent finished, by terminal status and error code.").IgnoreError();
  metrics_.Describe("runyard_agent_active_runs", MetricType::kGauge, "Runs in progress on this agent.").IgnoreError();
  metrics_.Describe("runyard_agent_slots", MetricType::kGauge, "Runs this agent may hold at once.").IgnoreError();
  metrics_.Describe("runyard_agent_draining", MetricType::kGauge, "1 while the agent drains.").IgnoreError();
  metrics_.Describe("runyard_agent_upload_bytes_total", MetricType::kCounter,
                    "Bytes of run files (logs, outputs) the server accepted from this agent.").IgnoreError();
  metrics_.Describe("runyard_agent_heartbeat_age_seconds", MetricType::kGauge,
                    "Seconds since the server last answered this agent.").IgnoreError();
  metrics_.Describe("runyard_agent_environment_cache_total", MetricType::kCounter,
                    "Managed environments a run needed, by result: hit (found in the node cache) or built.")
      .IgnoreError();
  metrics_.Add("runyard_agent_runs_started_total", {}, 0).IgnoreError();
  metrics_.Add("runyard_agent_environment_cache_total", {{"result", "hit"}}, 0).IgnoreError();
  metrics_.Add("runyard_agent_environment_cache_total", {{"result", "built"}}, 0).IgnoreError();
  metrics_.AddCollector([this](common::MetricsRegistry& registry) {
    registry.Set("runyard_agent_active_runs", {}, gauges_.active_runs()).IgnoreError();
    registry.Set("runyard_agent_slots", {}, config_.slots).IgnoreError();
    registry.Set("runyard_agent_draining", {}, gauges_.draining() ? 1 : 0).IgnoreError();
    registry.ClearSamples("runyard_agent_upload_bytes_total").IgnoreError();
    registry.Add("runyard_agent_upload_bytes_total", {}, static_cast<double>(gauges_.upload_bytes())).IgnoreError();
    const auto contact = gauges_.last_server_contact();
    registry.Set("runyard_agent_heartbeat_age_seconds", {},
                 SecondsSince(contact == std::chrono::steady_clock::time_point{} ? started_ : contact))
        .IgnoreError();
  });
}

AgentObservability::~AgentObservability() {
  if (listener_) listener_->Stop();  // before what its handlers use goes away
}

absl::Status AgentObservability::Start() {
  if (config_.http_listen.empty()) return absl::OkStatus();
  absl::StatusOr<std::unique_ptr<common::HttpListener>> listener =
      common::ServeHealthAndMetrics(config_.http_listen, &metrics_, [this] { return Health(); }, "agent");
  if (!listener.ok()) return listener.status();
  listener_ = std::move(listener).value();
  return absl::OkStatus();
}

void AgentObservability::RunStarted() { metrics_.Add("runyard_agent_runs_started_total", {}).IgnoreError(); }

void AgentObservability::RunFinished(const runtime::RunOutcome& outcome) {
  metrics_.Add("runyard_agent_runs_finished_total",
               {{"status", common::StatusName(outcome.status)},
                {"error", outcome.error.code().empty() ? "none" : outcome.error.code()}})
      .IgnoreError();
  if (outcome.environment != runtime::RunOutcome::EnvironmentSource::kNone) {
    const bool hit = outcome.environment == runtime::RunOutcome::EnvironmentSource::kCacheHit;
    metrics_.Add("runyard_agent_environment_cache_total", {{"result", hit ? "hit" : "built"}}).IgnoreError();
  }
}

common::HttpResponse AgentObservability::Health() {
  const auto contact = gauges_.last_server_contact();
  // Before the first answer the agent gets the same grace from its start.
  const double silent = SecondsSince(contact == std::chrono::steady_clock::time_point{} ? started_ : contact);
  const std::string summary = "server " + config_.server + " last answered " + std::to_string(silent) +
                              " s ago; " + std::to_string(gauges_.active_runs()) + " active run(s)" +
                              (gauges_.draining() ? "; draining" : "") + "\n";
  if (silent > config_.healthz_server_silence_seconds) {
    return common::HttpResponse{503, "text/plain; charset=utf-8",
                                "unhealthy: " + summary + "(threshold " +
                                    std::to_string(config_.healthz_server_silence_seconds) + " s)\n"};
  }
  return common::HttpResponse{200, "text/plain; charset=utf-8", "ok: " + summary};
}

}  // namespace runyard::agent
