#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/http_listener.h"
#include "common/metrics.h"

namespace runyard::common {

// A daemon's operations endpoint on `address`: Prometheus /metrics from `metrics` and
// /healthz answered by `health`. Logs one line naming the bound port as `component`. Stop
// the returned listener before what the handlers use goes away. `options` carry its TLS
// certificate, or insecure_plaintext for plaintext off loopback.
absl::StatusOr<std::unique_ptr<HttpListener>> ServeHealthAndMetrics(const std::string& address,
                                                                    MetricsRegistry* metrics,
                                                                    std::function<HttpResponse()> health,
                                                                    const std::string& component,
                                                                    const HttpListenerOptions& options = {});

}  // namespace runyard::common
