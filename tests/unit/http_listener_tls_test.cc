// Tests for common/http_listener.h's HTTPS and its plaintext rule: served with a
// certificate a client verifies, plaintext refused off loopback unless asked for, a bad
// certificate named, a plaintext client to an HTTPS listener dropped without harm.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>

#include "common/http_listener.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/scoped_temp_dir.h"
#include "tests/unit/test_certificates.h"

namespace runyard::common {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

int ConnectToLoopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval timeout{10, 0};  // a listener that never answers fails the test instead of hanging it
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) ADD_FAILURE() << "connect failed";
  return fd;
}

// GET `path` over TLS, verifying the listener's certificate against `ca_file` for
// 127.0.0.1; the whole response, or "" with a test failure.
std::string HttpsGet(int port, const std::string& ca_file, const std::string& path) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(ctx.get()), "127.0.0.1");
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  const int fd = ConnectToLoopback(port);
  SSL_set_fd(ssl.get(), fd);
  std::string response;
  if (SSL_connect(ssl.get()) != 1) {
    ADD_FAILURE() << "TLS handshake failed: " << ERR_reason_error_string(ERR_get_error());
  } else {
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    SSL_write(ssl.get(), request.data(), static_cast<int>(request.size()));
    char chunk[4096];
    for (int got; (got = SSL_read(ssl.get(), chunk, sizeof chunk)) > 0;) response.append(chunk, static_cast<size_t>(got));
  }
  ::close(fd);
  return response;
}

class HttpListenerTlsTest : public ::testing::Test {
 protected:
  HttpListenerTlsTest() : ca_(dir_.path(), "ops") { pair_ = ca_.Issue("ops", {"127.0.0.1"}); }

  HttpListenerOptions Tls() {
    HttpListenerOptions options;
    options.tls_cert_file = pair_.cert_file;
    options.tls_key_file = pair_.key_file;
    return options;
  }
  static void AddHealth(HttpListener& listener) {
    listener.Handle("/healthz", [](const HttpRequest&) { return HttpResponse{200, "text/plain", "ok\n"}; });
  }

  testutil::ScopedTempDir dir_;
  testutil::TestCertificateAuthority ca_;
  testutil::PemPair pair_;
};

TEST_F(HttpListenerTlsTest, ServesHttpsWithItsCertificate) {
  HttpListener listener("127.0.0.1:0", Tls());
  AddHealth(listener);
  ASSERT_TRUE(listener.Start().ok());
  EXPECT_TRUE(listener.tls());
  const std::string response = HttpsGet(listener.port(), ca_.ca_file(), "/healthz");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(response, HasSubstr("\r\n\r\nok\n"));
}

TEST_F(HttpListenerTlsTest, PlaintextClientIsDroppedAndOthersStillServed) {
  HttpListenerOptions options = Tls();
  options.threads = 1;  // the one thread must come free again
  HttpListener listener("127.0.0.1:0", options);
  AddHealth(listener);
  ASSERT_TRUE(listener.Start().ok());
  const int fd = ConnectToLoopback(listener.port());
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  char chunk[256];
  ssize_t got = 0;
  std::string answer;
  while ((got = ::recv(fd, chunk, sizeof chunk, 0)) > 0) answer.append(chunk, static_cast<size_t>(got));
  ::close(fd);
  EXPECT_THAT(answer, ::testing::Not(HasSubstr("ok\n")));  // never the body in the clear
  EXPECT_THAT(HttpsGet(listener.port(), ca_.ca_file(), "/healthz"), StartsWith("HTTP/1.1 200 OK"));
}

TEST_F(HttpListenerTlsTest, PlaintextOffLoopbackIsRefusedUnlessAskedFor) {
  HttpListener everywhere(":0");
  const absl::Status refused = everywhere.Start();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.message(), HasSubstr(":0 would serve plaintext beyond this machine"));

  HttpListenerOptions plaintext;
  plaintext.insecure_plaintext = true;
  HttpListener asked(":0", plaintext);
  EXPECT_TRUE(asked.Start().ok());
  EXPECT_FALSE(asked.tls());
}

TEST_F(HttpListenerTlsTest, BadCertificateIsNamed) {
  HttpListenerOptions options = Tls();
  options.tls_cert_file = (dir_.path() / "none.pem").string();
  HttpListener listener("127.0.0.1:0", options);
  const absl::Status status = listener.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("tls_cert_file " + options.tls_cert_file + ": cannot read"));
}

}  // namespace
}  // namespace runyard::common
