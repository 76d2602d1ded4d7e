#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

struct ssl_ctx_st;
struct ssl_st;

namespace runyard::common {

// Server-side TLS for a small listener on non-blocking sockets (HttpListener's HTTPS).

// A certificate and its key, loaded once and shared by every connection.
class TlsServerContext {
 public:
  // The error names the file that cannot be used.
  static absl::StatusOr<std::shared_ptr<TlsServerContext>> Load(const std::string& cert_file,
                                                                const std::string& key_file);
  explicit TlsServerContext(ssl_ctx_st* context) : context_(context) {}
  ~TlsServerContext();
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;
  ssl_ctx_st* get() const { return context_; }

 private:
  ssl_ctx_st* context_;
};

// What one read or write did: `bytes` > 0 moved; `wait` set: poll the socket for those
// events and call again; neither: the peer closed (reads) ; `bytes` < 0: failed.
struct SocketIo {
  ssize_t bytes = 0;
  short wait = 0;
};

// One accepted connection, plaintext or TLS (the handshake happens within the first
// reads). Writes never raise SIGPIPE (see socket_bio.h).
class SocketStream {
 public:
  SocketStream(int fd, const TlsServerContext* tls);  // tls null: plaintext
  ~SocketStream();
  SocketStream(const SocketStream&) = delete;
  SocketStream& operator=(const SocketStream&) = delete;

  SocketIo Read(char* buffer, size_t size);
  SocketIo Write(const char* data, size_t size);
  // Says the response is complete (TLS close_notify, best effort) and shuts the write side.
  void FinishWriting();

 private:
  SocketIo TlsResult(int result);

  int fd_;
  ssl_st* ssl_ = nullptr;
};

}  // namespace runyard::common
