#pragma once

#include <chrono>
#include <string>

#include "common/grpc_channel.h"
#include "common/tls_files.h"

namespace runyard::common {

// What one direct connection to a server's port found, for ExplainConnectionFailure: the
// facts gRPC does not report (it says only "failed to connect").
struct TlsProbe {
  bool reachable = false;
  std::string unreachable_reason;  // "connection refused", "no answer within 3 s", ...

  bool handshake_done = false;        // it speaks TLS
  std::string handshake_error;        // else OpenSSL's reason
  bool speaks_plaintext_http2 = false;  // no handshake: it answered an HTTP/2 preface in the clear

  // After a handshake: the server's certificate, whether its chain verifies against the
  // client's CA (X509_V_OK or the first error), and whether it is for the host dialled.
  X509Ptr certificate;
  long verify_result = 0;
  bool name_matches = false;

  // The server asked for a client certificate, then refused it (or its absence) with an
  // alert, whose text is `refusal`, or by closing the connection (`refusal` empty).
  bool certificate_requested = false;
  bool client_certificate_refused = false;
  std::string refusal;
};

// Connects to host:port and handshakes as the client of `options` would (its CA, its
// client certificate, SNI and ALPN h2), without stopping at a bad certificate. Each step
// waits at most `timeout`.
TlsProbe ProbeServer(const std::string& host, const std::string& port, const ChannelOptions& options,
                     std::chrono::milliseconds timeout);

}  // namespace runyard::common
