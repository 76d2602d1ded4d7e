#include "common/tls_server_socket.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include "common/socket_bio.h"
#include "common/tls_files.h"

namespace runyard::common {

absl::StatusOr<std::shared_ptr<TlsServerContext>> TlsServerContext::Load(const std::string& cert_file,
                                                                         const std::string& key_file) {
  if (absl::Status usable = CheckCertificateAndKey("tls_cert_file", cert_file, "tls_key_file", key_file);
      !usable.ok()) {
    return usable;
  }
  auto context = std::make_shared<TlsServerContext>(SSL_CTX_new(TLS_server_method()));
  SSL_CTX* ctx = context->get();
  if (ctx == nullptr) return absl::InternalError("cannot create a TLS context");
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    ERR_clear_error();
    return absl::FailedPreconditionError("tls_cert_file " + cert_file + " or tls_key_file " + key_file +
                                         ": cannot be loaded");
  }
  return context;
}

TlsServerContext::~TlsServerContext() { SSL_CTX_free(context_); }

SocketStream::SocketStream(int fd, const TlsServerContext* tls) : fd_(fd) {
  if (tls == nullptr) return;
  ssl_ = SSL_new(tls->get());
  BIO* bio = NewSocketBio(&fd_);
  SSL_set_bio(ssl_, bio, bio);
  SSL_set_accept_state(ssl_);
}

SocketStream::~SocketStream() { SSL_free(ssl_); }

SocketIo SocketStream::TlsResult(int result) {
  if (result > 0) return {result, 0};
  const int error = SSL_get_error(ssl_, result);
  ERR_clear_error();  // the queue is per thread and would confuse the next connection's errors
  switch (error) {
    case SSL_ERROR_WANT_READ: return {0, POLLIN};
    case SSL_ERROR_WANT_WRITE: return {0, POLLOUT};
    case SSL_ERROR_ZERO_RETURN: return {0, 0};
    default: return {-1, 0};
  }
}

SocketIo SocketStream::Read(char* buffer, size_t size) {
  if (ssl_ != nullptr) return TlsResult(SSL_read(ssl_, buffer, static_cast<int>(size)));
  const ssize_t received = ::recv(fd_, buffer, size, 0);
  if (received >= 0) return {received, 0};
  return errno == EAGAIN || errno == EINTR ? SocketIo{0, POLLIN} : SocketIo{-1, 0};
}

SocketIo SocketStream::Write(const char* data, size_t size) {
  if (ssl_ != nullptr) return TlsResult(SSL_write(ssl_, data, static_cast<int>(size)));
  const ssize_t sent = ::send(fd_, data, size, MSG_NOSIGNAL);
  if (sent > 0) return {sent, 0};
  return sent < 0 && errno != EAGAIN && errno != EINTR ? SocketIo{-1, 0} : SocketIo{0, POLLOUT};
}

void SocketStream::FinishWriting() {
  if (ssl_ != nullptr) {
    SSL_shutdown(ssl_);  // one try: the close_notify goes out if the socket takes it
    ERR_clear_error();
  }
  ::shutdown(fd_, SHUT_WR);
}

}  // namespace runyard::common
