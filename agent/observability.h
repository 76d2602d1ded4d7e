#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "agent/config.h"
#include "common/clock.h"
#include "common/http_listener.h"
#include "common/metrics.h"
#include "runtime/observer.h"

namespace runyard::agent {

// What the agent shows monitoring, read at each scrape.
struct AgentGauges {
  std::function<std::chrono::steady_clock::time_point()> last_server_contact;
  std::function<int()> active_runs;
  std::function<bool()> draining;
  std::function<int64_t()> upload_bytes;
};

// The agent's optional HTTP listener (`http_listen`): Prometheus /metrics (runs started and
// finished by status, active runs, draining, upload bytes, heartbeat age, environment
// cache hits and builds) and /healthz, which fails once the server has not answered for
// `healthz_server_silence_seconds`.
class AgentObservability {
 public:
  // `clock` reads the agent's uptime and the server's silence.
  AgentObservability(const AgentConfig& config, AgentGauges gauges, const common::Clock& clock);
  ~AgentObservability();

  // Starts listening when configured; an error names the address.
  absl::Status Start();
  void RunStarted();
  void RunFinished(const runtime::RunOutcome& outcome);

  // The /healthz answer now (exposed for tests).
  common::HttpResponse Health();

 private:
  // Seconds since the server last answered; since the start before its first answer.
  double ServerSilenceSeconds() const;

  const AgentConfig& config_;
  AgentGauges gauges_;
  const common::Clock& clock_;
  const std::chrono::steady_clock::time_point started_;
  common::MetricsRegistry metrics_;
  common::CheckedMetrics checked_{metrics_, "agent"};
  std::unique_ptr<common::HttpListener> listener_;
};

}  // namespace runyard::agent
