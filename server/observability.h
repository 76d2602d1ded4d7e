#pragma once

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "common/http_listener.h"
#include "common/metrics.h"
#include "server/config.h"
#include "server/control_plane.h"

namespace runyard::server {

// The server's optional HTTP listener (`http_listen`): Prometheus /metrics (runs by pool and
// status, queue length per pool, agents by pool and state, bytes appended by agents) and
// /healthz (200 while the database answers).
class ServerObservability {
 public:
  ServerObservability(const ServerConfig& config, ControlPlane* plane,
                      std::function<int64_t()> appended_bytes);
  ~ServerObservability();

  // Describes the metrics, then listens; listens not when http_listen is empty. An error
  // names the address.
  absl::Status Start();
  common::HttpResponse Health();

 private:
  absl::Status DescribeMetrics();
  void Collect(common::MetricsRegistry& registry);

  const ServerConfig& config_;
  ControlPlane* plane_;
  std::function<int64_t()> appended_bytes_;
  common::MetricsRegistry metrics_;
  std::unique_ptr<common::HttpListener> listener_;
};

}  // namespace runyard::server
