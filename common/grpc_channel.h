#pragma once

#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/grpcpp.h>

namespace runyard::common {

// The bearer token a channel sends on every call. Shared, so that a client that learns a
// new token (an agent given its agent token at Register) changes it for the calls that
// follow without making a new channel. Thread-safe.
class TokenSource {
 public:
  TokenSource() = default;
  explicit TokenSource(std::string token) : token_(std::move(token)) {}

  void Set(std::string token) {
    std::lock_guard lock(mutex_);
    token_ = std::move(token);
  }
  std::string Get() const {
    std::lock_guard lock(mutex_);
    return token_;
  }

 private:
  mutable std::mutex mutex_;
  std::string token_;  // "" sends no authorization header
};

// How a client reaches runyard-server.
struct ChannelOptions {
  std::string address;              // "host:port"
  bool insecure_plaintext = false;  // no TLS at all (loopback servers, tests)
  // PEM CA bundle the server's certificate must be signed by; empty: the system's roots.
  // A file that cannot be read makes every call fail UNAVAILABLE, and
  // ExplainConnectionFailure then names it.
  std::string ca_file;
  // Both or neither: the client certificate for a server that requires mTLS.
  std::string client_cert_file, client_key_file;
  // Sent as `authorization: Bearer <token>` on every call whose ClientContext has no
  // `authorization` entry of its own (the agent sets a run's token per call that way).
  // Null: no header.
  std::shared_ptr<TokenSource> token;
};

// A channel to runyard-server that reconnects quickly after a server restart (gRPC's
// default backoff would leave an agent idle for seconds after the server is back), takes
// messages up to 64 MiB, speaks TLS unless told otherwise and carries the token. The TLS
// credentials are built here, so a client that makes no TLS channel never pays for them.
std::shared_ptr<grpc::Channel> ServerChannel(const ChannelOptions& options);

// Plaintext, no token: kept for tools not yet given ChannelOptions.
std::shared_ptr<grpc::Channel> ServerChannel(const std::string& address);

}  // namespace runyard::common
