#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "agent/config.h"
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
  AgentObservability(const AgentConfig& config, AgentGauges gauges);
  ~AgentObservability();

  // Starts listening when configured; an error names the address.
  absl::Status Start();
  void RunStarted();
  void RunFinished(const runtime::RunOutcome& outcome);

  // The /healthz answer now (exposed for tests).
  common::HttpResponse Health();

 private:
  const AgentConfig& config_;
  AgentGauges gauges_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  common::MetricsRegistry metrics_;
  std::unique_ptr<common::HttpListener> listener_;
};

}  // namespace runyard::agent
