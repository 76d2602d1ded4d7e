#include "agent/observability.h"

#include "common/logging.h"
#include "common/ops_endpoint.h"
#include "common/status_names.h"

namespace runyard::agent {
namespace {

using common::MetricType;

}  // namespace

AgentObservability::AgentObservability(const AgentConfig& config, AgentGauges gauges,
                                       const common::Clock& clock)
    : config_(config), gauges_(std::move(gauges)), clock_(clock), started_(clock.SteadyNow()) {
  checked_.Describe("runyard_agent_runs_started_total", MetricType::kCounter,
                    "Runs this agent started.");
  checked_.Describe("runyard_agent_runs_finished_total", MetricType::kCounter,
                    "Runs this agent finished, by terminal status and error code.");
  checked_.Describe("runyard_agent_active_runs", MetricType::kGauge,
                    "Runs in progress on this agent.");
  checked_.Describe("runyard_agent_slots", MetricType::kGauge, "Runs this agent may hold at once.");
  checked_.Describe("runyard_agent_draining", MetricType::kGauge, "1 while the agent drains.");
  checked_.Describe("runyard_agent_upload_bytes_total", MetricType::kCounter,
                    "Bytes of run files (logs, outputs) the server accepted from this agent.");
  checked_.Describe("runyard_agent_heartbeat_age_seconds", MetricType::kGauge,
                    "Seconds since the server last answered this agent.");
  checked_.Describe(
      "runyard_agent_environment_cache_total", MetricType::kCounter,
      "Managed environments a run needed, by result: hit (found in the node cache) or built.");
  checked_.Add("runyard_agent_runs_started_total", {}, 0);
  checked_.Add("runyard_agent_environment_cache_total", {{"result", "hit"}}, 0);
  checked_.Add("runyard_agent_environment_cache_total", {{"result", "built"}}, 0);
  metrics_.AddCollector([this](common::MetricsRegistry& registry) {
    common::CheckedMetrics checked(registry, "agent");
    checked.Set("runyard_agent_active_runs", {}, gauges_.active_runs());
    checked.Set("runyard_agent_slots", {}, config_.slots);
    checked.Set("runyard_agent_draining", {}, gauges_.draining() ? 1 : 0);
    checked.ClearSamples("runyard_agent_upload_bytes_total");
    checked.Add("runyard_agent_upload_bytes_total", {},
                static_cast<double>(gauges_.upload_bytes()));
    checked.Set("runyard_agent_heartbeat_age_seconds", {}, ServerSilenceSeconds());
  });
}

AgentObservability::~AgentObservability() {
  if (listener_) listener_->Stop();  // before what its handlers use goes away
}

absl::Status AgentObservability::Start() {
  if (config_.http_listen.empty()) return absl::OkStatus();
  common::HttpListenerOptions options;
  options.tls_cert_file = config_.http_tls_cert_file;
  options.tls_key_file = config_.http_tls_key_file;
  options.insecure_plaintext = config_.insecure_plaintext;
  absl::StatusOr<std::unique_ptr<common::HttpListener>> listener = common::ServeHealthAndMetrics(
      config_.http_listen, &metrics_, [this] { return Health(); }, "agent", options);
  if (!listener.ok()) return listener.status();
  listener_ = std::move(listener).value();
  return absl::OkStatus();
}

void AgentObservability::RunStarted() { checked_.Add("runyard_agent_runs_started_total", {}); }

void AgentObservability::RunFinished(const runtime::RunOutcome& outcome) {
  checked_.Add("runyard_agent_runs_finished_total",
               {{"status", common::StatusName(outcome.status)},
                {"error", outcome.error.code().empty() ? "none" : outcome.error.code()}});
  if (outcome.environment != runtime::RunOutcome::EnvironmentSource::kNone) {
    const bool hit = outcome.environment == runtime::RunOutcome::EnvironmentSource::kCacheHit;
    checked_.Add("runyard_agent_environment_cache_total", {{"result", hit ? "hit" : "built"}});
  }
}

double AgentObservability::ServerSilenceSeconds() const {
  const auto contact = gauges_.last_server_contact();
  // Before the first answer the agent gets the same grace from its start.
  const auto since = contact == std::chrono::steady_clock::time_point{} ? started_ : contact;
  return std::chrono::duration<double>(clock_.SteadyNow() - since).count();
}

common::HttpResponse AgentObservability::Health() {
  const double silent = ServerSilenceSeconds();
  const std::string summary = "server " + config_.server + " last answered " +
                              std::to_string(silent) + " s ago; " +
                              std::to_string(gauges_.active_runs()) + " active run(s)" +
                              (gauges_.draining() ? "; draining" : "") + "\n";
  if (silent > config_.healthz_server_silence_seconds) {
    return common::HttpResponse{503, "text/plain; charset=utf-8",
                                "unhealthy: " + summary + "(threshold " +
                                    std::to_string(config_.healthz_server_silence_seconds) +
                                    " s)\n"};
  }
  return common::HttpResponse{200, "text/plain; charset=utf-8", "ok: " + summary};
}

}  // namespace runyard::agent
