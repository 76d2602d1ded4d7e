#include "common/ops_endpoint.h"

#include "common/logging.h"

namespace runyard::common {

absl::StatusOr<std::unique_ptr<HttpListener>> ServeHealthAndMetrics(const std::string& address,
                                                                    MetricsRegistry* metrics,
                                                                    std::function<HttpResponse()> health,
                                                                    const std::string& component,
                                                                    const HttpListenerOptions& options) {
  auto listener = std::make_unique<HttpListener>(address, options);
  listener->Handle("/metrics", [metrics](const HttpRequest&) {
    return HttpResponse{200, kPrometheusTextContentType, metrics->Render()};
  });
  listener->Handle("/healthz", [health = std::move(health)](const HttpRequest&) { return health(); });
  if (absl::Status started = listener->Start(); !started.ok()) return started;
  // Tests and scripts read this line to learn the port when they passed port 0.
  Logger(component)->info("serving /healthz and /metrics on {} (port {}) over {}", address, listener->port(),
                          listener->tls() ? "https" : "plaintext http");
  return listener;
}

}  // namespace runyard::common
