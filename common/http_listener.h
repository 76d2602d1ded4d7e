#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"

namespace runyard::common {

struct HttpRequest {
  std::string method;  // "GET" or "HEAD"
  std::string path;    // the target without its query: "/metrics"
  std::string query;   // after the '?', undecoded; empty when none
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Called on a listener thread, possibly on several at once.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpListenerOptions {
  // Connections served at once (one thread each). Slow clients beyond these wait in the
  // listen backlog.
  int threads = 4;
  // How long a client has to send its request line and headers, and later to take the
  // response, before it is dropped: a client that connects and says nothing holds a
  // thread no longer than this.
  std::chrono::milliseconds request_timeout{5000};
  // Request line plus headers; a longer head is answered 431.
  size_t max_request_head_bytes = 8192;
  // Both set: HTTPS with this PEM certificate (chain) and key. Neither: plaintext, which
  // Start() allows only on a loopback host unless insecure_plaintext is set, since the
  // metrics name pools, agents and sizes.
  std::string tls_cert_file;
  std::string tls_key_file;
  bool insecure_plaintext = false;
};

class TlsServerContext;

// A small HTTP/1.1 (or HTTPS) server for health and metrics endpoints, on POSIX sockets.
// Answers GET (and HEAD) on exact paths, the query string ignored for routing; 404 for an
// unknown path, 405 with "Allow: GET, HEAD" for other methods, 400 for a malformed
// request, 431 for a head over the limit. One request per connection, every response
// with Content-Length and "Connection: close". Its sockets are close-on-exec, so the
// processes a run starts never inherit them.
class HttpListener {
 public:
  // `address` is "host:port": "127.0.0.1:9100", "[::1]:9100", "localhost:0", or ":9100"
  // for every interface. Port 0 picks a free port (see port()).
  explicit HttpListener(std::string address, HttpListenerOptions options = {});
  ~HttpListener();  // Stop()
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  // Serves `path` ("/metrics") with `handler`; may be called before or after Start().
  void Handle(std::string path, HttpHandler handler);

  // Binds and listens, then serves on its own threads. The error names the address:
  // InvalidArgument when it cannot be parsed or resolved, Unavailable when it cannot be
  // bound (in use, not local, ...); FailedPrecondition for plaintext off loopback or a
  // certificate or key that cannot be used (naming the file).
  absl::Status Start();

  // The port bound by Start() (the one picked for port 0); 0 before.
  int port() const { return port_; }
  // True when it serves HTTPS.
  bool tls() const { return tls_ != nullptr; }

  // Stops listening, drops connections in progress (a running handler is waited for) and
  // joins the threads. Idempotent; returns promptly.
  void Stop();

 private:
  void ServeConnections();        // one per thread: accept, then serve one connection
  void ServeConnection(int fd);
  HttpResponse Respond(const HttpRequest& request);

  const std::string address_;
  const HttpListenerOptions options_;
  std::shared_ptr<TlsServerContext> tls_;  // null: plaintext
  int listen_fd_ = -1;
  int stop_read_fd_ = -1;  // readable once Stop() has begun: wakes every waiting thread
  int stop_write_fd_ = -1;
  int port_ = 0;
  std::vector<std::thread> threads_;

  std::mutex handlers_mutex_;
  std::map<std::string, HttpHandler, std::less<>> handlers_;  // guarded by handlers_mutex_
};

}  // namespace runyard::common
