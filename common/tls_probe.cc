#include "common/tls_probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>

#include "common/socket_bio.h"

namespace runyard::common {
namespace {

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

class Socket {
 public:
  explicit Socket(int fd = -1) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Socket& operator=(Socket&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  int* fd() { return &fd_; }
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string Lowercased(std::string text) {
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

bool IsIpAddress(const std::string& host) {
  unsigned char address[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), address) == 1 || inet_pton(AF_INET6, host.c_str(), address) == 1;
}

// A blocking socket connected to host:port whose reads and writes give up after
// `timeout`, or the reason there is none.
Socket Connect(const std::string& host, const std::string& port, std::chrono::milliseconds timeout,
               std::string* reason) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* addresses = nullptr;
  if (int error = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &addresses); error != 0) {
    *reason = "cannot resolve " + host + ": " + Lowercased(::gai_strerror(error));
    return Socket();
  }
  Socket connected;
  for (addrinfo* candidate = addresses; candidate != nullptr && connected.get() < 0; candidate = candidate->ai_next) {
    Socket socket(::socket(candidate->ai_family, candidate->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (socket.get() < 0) continue;
    int error = ::connect(socket.get(), candidate->ai_addr, candidate->ai_addrlen) == 0 ? 0 : errno;
    if (error == EINPROGRESS) {
      pollfd ready = {socket.get(), POLLOUT, 0};
      socklen_t size = sizeof error;
      if (::poll(&ready, 1, static_cast<int>(timeout.count())) != 1) {
        error = ETIMEDOUT;
      } else {
        ::getsockopt(socket.get(), SOL_SOCKET, SO_ERROR, &error, &size);
      }
    }
    if (error != 0) {
      *reason = error == ETIMEDOUT ? "no answer within " + std::to_string(timeout.count()) + " ms"
                                   : Lowercased(std::strerror(error));
      continue;
    }
    ::fcntl(socket.get(), F_SETFL, ::fcntl(socket.get(), F_GETFL) & ~O_NONBLOCK);
    timeval limit{static_cast<time_t>(timeout.count() / 1000),
                  static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    ::setsockopt(socket.get(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    ::setsockopt(socket.get(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    connected = std::move(socket);
  }
  ::freeaddrinfo(addresses);
  return connected;
}

// An HTTP/2 server in the clear (a plaintext gRPC server) answers the client preface with
// a SETTINGS frame; a TLS server answers it with an alert or by closing.
bool SpeaksPlaintextHttp2(const std::string& host, const std::string& port, std::chrono::milliseconds timeout) {
  std::string ignored;
  Socket socket = Connect(host, port, timeout, &ignored);
  if (socket.get() < 0) return false;
  static constexpr char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";
  if (::send(socket.get(), kPreface, sizeof kPreface - 1, MSG_NOSIGNAL) != sizeof kPreface - 1) return false;
  unsigned char frame[9];
  size_t received = 0;
  while (received < sizeof frame) {
    const ssize_t got = ::recv(socket.get(), frame + received, sizeof frame - received, 0);
    if (got <= 0) return false;
    received += static_cast<size_t>(got);
  }
  return frame[3] == 0x04;  // frame type SETTINGS
}

// Called when the server asks for a client certificate (whether or not there is one).
int NoteCertificateRequest(SSL*, void* requested) {
  *static_cast<bool*>(requested) = true;
  return 1;
}

// An alert the peer sent, as text, or "" when the error was not one.
std::string PeerAlert(unsigned long error) {
  const int reason = ERR_GET_REASON(error);
  if (reason <= SSL_AD_REASON_OFFSET || reason >= SSL_AD_REASON_OFFSET + 256) return "";
  return SSL_alert_desc_string_long(reason - SSL_AD_REASON_OFFSET);
}

std::string ReasonText(unsigned long error) {
  const char* text = ERR_reason_error_string(error);
  return text != nullptr ? text : "unknown TLS error";
}

std::unique_ptr<SSL_CTX, SslCtxFree> ClientContext(const ChannelOptions& options) {
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx(SSL_CTX_new(TLS_client_method()));
  // Verified after the handshake, so that a bad certificate can be described.
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  if (options.ca_file.empty()) {
    SSL_CTX_set_default_verify_paths(ctx.get());
  } else {
    SSL_CTX_load_verify_locations(ctx.get(), options.ca_file.c_str(), nullptr);
  }
  if (!options.client_cert_file.empty() && !options.client_key_file.empty()) {
    SSL_CTX_use_certificate_chain_file(ctx.get(), options.client_cert_file.c_str());
    SSL_CTX_use_PrivateKey_file(ctx.get(), options.client_key_file.c_str(), SSL_FILETYPE_PEM);
  }
  ERR_clear_error();
  return ctx;
}

}  // namespace

TlsProbe ProbeServer(const std::string& host, const std::string& port, const ChannelOptions& options,
                     std::chrono::milliseconds timeout) {
  TlsProbe probe;
  Socket socket = Connect(host, port, timeout, &probe.unreachable_reason);
  if (socket.get() < 0) return probe;
  probe.reachable = true;

  std::unique_ptr<SSL_CTX, SslCtxFree> ctx = ClientContext(options);
  std::unique_ptr<SSL, SslFree> ssl(SSL_new(ctx.get()));
  static constexpr unsigned char kAlpnH2[] = {2, 'h', '2'};  // gRPC servers insist on it
  SSL_set_alpn_protos(ssl.get(), kAlpnH2, sizeof kAlpnH2);
  if (!IsIpAddress(host)) SSL_set_tlsext_host_name(ssl.get(), host.c_str());
  SSL_set_cert_cb(ssl.get(), NoteCertificateRequest, &probe.certificate_requested);
  BIO* bio = NewSocketBio(socket.fd());
  SSL_set_bio(ssl.get(), bio, bio);

  ERR_clear_error();
  if (SSL_connect(ssl.get()) != 1) {
    const unsigned long error = ERR_get_error();
    ERR_clear_error();
    // TLS 1.2 refuses a client certificate within the handshake.
    if (std::string alert = PeerAlert(error); probe.certificate_requested && (!alert.empty() || error == 0)) {
      probe.handshake_done = true;
      probe.client_certificate_refused = true;
      probe.refusal = alert;
      return probe;
    }
    probe.handshake_error = error != 0 ? ReasonText(error) : "the server closed the connection";
    probe.speaks_plaintext_http2 = SpeaksPlaintextHttp2(host, port, timeout);
    return probe;
  }
  probe.handshake_done = true;
  probe.certificate.reset(SSL_get1_peer_certificate(ssl.get()));
  probe.verify_result = SSL_get_verify_result(ssl.get());
  if (probe.certificate) {
    probe.name_matches = IsIpAddress(host) ? X509_check_ip_asc(probe.certificate.get(), host.c_str(), 0) == 1
                                           : X509_check_host(probe.certificate.get(), host.c_str(), host.size(), 0,
                                                             nullptr) == 1;
  }
  // TLS 1.3 judges the client certificate after the client has finished: a refusal
  // arrives as an alert in place of the server's first bytes (gRPC's SETTINGS frame).
  // gRPC's server often closes without sending its alert, so a close is taken as refusal too.
  if (probe.certificate_requested) {
    char first[64];
    const int read = SSL_read(ssl.get(), first, sizeof first);
    if (read <= 0 && SSL_get_error(ssl.get(), read) != SSL_ERROR_WANT_READ) {  // not a mere silence
      probe.client_certificate_refused = true;
      probe.refusal = PeerAlert(ERR_peek_error());
    }
    ERR_clear_error();
  }
  return probe;
}

}  // namespace runyard::common
