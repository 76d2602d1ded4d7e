// Tests for common/http_listener.h, over real sockets on 127.0.0.1: routing, status codes,
// response headers, refused requests, clients that say nothing, binding errors, and a
// prompt Stop().

#include "common/http_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace runyard::common {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// A client connection to 127.0.0.1:port. Its reads give up after 10 s, so a listener that
// never answers fails the test instead of hanging it.
class Client {
 public:
  explicit Client(int port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    timeval timeout{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ADD_FAILURE() << "connect to port " << port << " failed";
    }
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void Send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t sent = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (sent <= 0) {
        ADD_FAILURE() << "send failed";
        return;
      }
      data.remove_prefix(static_cast<size_t>(sent));
    }
  }

  // Everything until the listener closes the connection ("" if it closed at once).
  std::string ReadToEnd() {
    std::string text;
    char chunk[4096];
    while (true) {
      const ssize_t received = ::recv(fd_, chunk, sizeof chunk, 0);
      if (received == 0) return text;
      if (received < 0) {
        if (errno != ECONNRESET) ADD_FAILURE() << "recv: " << std::strerror(errno) << " after '" << text << "'";
        return text;
      }
      text.append(chunk, static_cast<size_t>(received));
    }
  }

 private:
  int fd_;
};

struct Response {
  std::string status_line;
  std::map<std::string, std::string> headers;
  std::string body;
};

Response Parse(const std::string& raw) {
  Response response;
  const size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) {
    ADD_FAILURE() << "no complete response head in '" << raw << "'";
    return response;
  }
  std::string_view head(raw.data(), head_end + 2);
  response.status_line = std::string(head.substr(0, head.find("\r\n")));
  head.remove_prefix(response.status_line.size() + 2);
  while (!head.empty()) {
    const std::string_view line = head.substr(0, head.find("\r\n"));
    const size_t colon = line.find(": ");
    response.headers[std::string(line.substr(0, colon))] = std::string(line.substr(colon + 2));
    head.remove_prefix(line.size() + 2);
  }
  response.body = raw.substr(head_end + 4);
  return response;
}

Response Exchange(int port, std::string_view request) {
  Client client(port);
  client.Send(request);
  return Parse(client.ReadToEnd());
}

std::string Get(std::string_view target) {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: test\r\n\r\n";
}

// A started listener on 127.0.0.1 with a free port; /health answers "ok\n", and /echo
// the path and query it was given.
std::unique_ptr<HttpListener> StartListener(HttpListenerOptions options = {}) {
  auto listener = std::make_unique<HttpListener>("127.0.0.1:0", options);
  listener->Handle("/health", [](const HttpRequest&) { return HttpResponse{200, "text/plain; charset=utf-8", "ok\n"}; });
  listener->Handle("/echo", [](const HttpRequest& request) {
    return HttpResponse{200, "text/plain", request.method + " " + request.path + " ? " + request.query};
  });
  absl::Status status = listener->Start();
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_GT(listener->port(), 0);
  return listener;
}

TEST(HttpListenerTest, ServesRegisteredPathWithBodyAndHeaders) {
  auto listener = StartListener();
  const Response response = Exchange(listener->port(), Get("/health"));
  EXPECT_EQ(response.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(response.headers.at("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(response.headers.at("Content-Length"), "3");
  EXPECT_EQ(response.headers.at("Connection"), "close");
  EXPECT_EQ(response.body, "ok\n");
}

TEST(HttpListenerTest, IgnoresQueryStringForRoutingAndPassesIt) {
  auto listener = StartListener();
  EXPECT_EQ(Exchange(listener->port(), Get("/echo?a=1&b=%20")).body, "GET /echo ? a=1&b=%20");
  EXPECT_EQ(Exchange(listener->port(), Get("/health?")).body, "ok\n");
}

TEST(HttpListenerTest, AcceptsHttp10AndBareLineFeeds) {
  auto listener = StartListener();
  EXPECT_EQ(Exchange(listener->port(), "GET /health HTTP/1.0\n\n").body, "ok\n");
}

TEST(HttpListenerTest, HeadGetsHeadersWithoutBody) {
  auto listener = StartListener();
  const Response response = Exchange(listener->port(), "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(response.status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(response.headers.at("Content-Length"), "3");
  EXPECT_EQ(response.body, "");
}

TEST(HttpListenerTest, UnknownPathIs404) {
  auto listener = StartListener();
  const Response response = Exchange(listener->port(), Get("/nope"));
  EXPECT_EQ(response.status_line, "HTTP/1.1 404 Not Found");
  EXPECT_EQ(response.headers.at("Content-Length"), std::to_string(response.body.size()));
  EXPECT_EQ(response.headers.at("Connection"), "close");
}

TEST(HttpListenerTest, OtherMethodsAre405WithAllow) {
  auto listener = StartListener();
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
    Response response =
        Exchange(listener->port(), std::string(method) + " /health HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(response.status_line, "HTTP/1.1 405 Method Not Allowed") << method;
    EXPECT_EQ(response.headers["Allow"], "GET, HEAD") << method;
  }
}

TEST(HttpListenerTest, MalformedRequestsAre400) {
  auto listener = StartListener();
  for (const char* request : {"garbage\r\n\r\n", "GET\r\n\r\n", "GET /health\r\n\r\n", "GET health HTTP/1.1\r\n\r\n",
                              "GET /health HTTP/2.0\r\n\r\n", "GET  /health HTTP/1.1\r\n\r\n",
                              "GET /health HTTP/1.1\r\nno colon here\r\n\r\n",
                              "GET /health HTTP/1.1\r\nBad Name: x\r\n\r\n", "\r\n\r\n"}) {
    EXPECT_EQ(Exchange(listener->port(), request).status_line, "HTTP/1.1 400 Bad Request") << request;
  }
}

TEST(HttpListenerTest, OversizedHeadIsRefusedWith431) {
  auto listener = StartListener();
  const std::string request = "GET /health HTTP/1.1\r\nX-Big: " + std::string(16 * 1024, 'a') + "\r\n\r\n";
  const Response response = Exchange(listener->port(), request);
  EXPECT_EQ(response.status_line, "HTTP/1.1 431 Request Header Fields Too Large");
  EXPECT_EQ(response.headers.at("Connection"), "close");
}

TEST(HttpListenerTest, HeadJustUnderTheLimitIsServed) {
  HttpListenerOptions options;
  options.max_request_head_bytes = 1024;
  auto listener = StartListener(options);
  std::string request = "GET /health HTTP/1.1\r\nX-Pad: \r\n\r\n";
  request.insert(request.find("X-Pad: ") + 7, std::string(1024 - request.size(), 'p'));
  ASSERT_EQ(request.size(), 1024u);
  EXPECT_EQ(Exchange(listener->port(), request).body, "ok\n");
  request.insert(request.find("X-Pad: ") + 7, "p");
  EXPECT_EQ(Exchange(listener->port(), request).status_line, "HTTP/1.1 431 Request Header Fields Too Large");
}

TEST(HttpListenerTest, HandlerThatThrowsGives500) {
  auto listener = StartListener();
  listener->Handle("/throws", [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("boom"); });
  EXPECT_EQ(Exchange(listener->port(), Get("/throws")).status_line, "HTTP/1.1 500 Internal Server Error");
}

TEST(HttpListenerTest, SilentClientDoesNotBlockAnotherClient) {
  HttpListenerOptions options;
  options.threads = 2;
  options.request_timeout = std::chrono::seconds(60);  // longer than the client's 10 s read limit
  auto listener = StartListener(options);
  Client silent(listener->port());
  EXPECT_EQ(Exchange(listener->port(), Get("/health")).body, "ok\n");
}

TEST(HttpListenerTest, SilentClientIsDroppedAfterTheRequestTimeout) {
  HttpListenerOptions options;
  options.threads = 1;
  options.request_timeout = std::chrono::milliseconds(200);
  auto listener = StartListener(options);
  Client silent(listener->port());
  silent.Send("GET /health HT");  // an incomplete head, never finished
  EXPECT_EQ(silent.ReadToEnd(), "");
  EXPECT_EQ(Exchange(listener->port(), Get("/health")).body, "ok\n");  // the one thread is free again
}

TEST(HttpListenerTest, StopReturnsPromptlyWhileAClientIsConnected) {
  HttpListenerOptions options;
  options.threads = 2;
  options.request_timeout = std::chrono::seconds(60);
  auto listener = StartListener(options);
  Client stalled(listener->port());
  stalled.Send("GET /health HTTP/1.1\r\n");
  // Connections are accepted in order: once this one is answered, the stalled one is
  // held by the other thread, waiting for the rest of its head.
  ASSERT_EQ(Exchange(listener->port(), Get("/health")).body, "ok\n");

  const auto started = std::chrono::steady_clock::now();
  listener->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
  EXPECT_EQ(stalled.ReadToEnd(), "");  // closed without an answer
  listener->Stop();                    // again: nothing to do
}

TEST(HttpListenerTest, HandlerAddedAfterStartIsServed) {
  auto listener = StartListener();
  EXPECT_EQ(Exchange(listener->port(), Get("/late")).status_line, "HTTP/1.1 404 Not Found");
  listener->Handle("/late", [](const HttpRequest&) { return HttpResponse{204, "text/plain", ""}; });
  EXPECT_EQ(Exchange(listener->port(), Get("/late")).status_line, "HTTP/1.1 204 No Content");
}

TEST(HttpListenerTest, BindingAPortInUseFailsNamingTheAddress) {
  auto first = StartListener();
  const std::string address = "127.0.0.1:" + std::to_string(first->port());
  HttpListener second(address);
  const absl::Status status = second.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(status.message(), HasSubstr(address));
  EXPECT_THAT(status.message(), HasSubstr("in use"));
  EXPECT_EQ(Exchange(first->port(), Get("/health")).body, "ok\n");  // the first one still serves
}

TEST(HttpListenerTest, BadAddressesAreRefusedNamingThem) {
  for (const char* address : {"no-port", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:http", "127.0.0.1:-1"}) {
    HttpListener listener(address);
    const absl::Status status = listener.Start();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << address;
    EXPECT_THAT(status.message(), HasSubstr(std::string("'") + address + "'"));
  }
  HttpListenerOptions plaintext;  // off loopback, plaintext must be asked for
  plaintext.insecure_plaintext = true;
  HttpListener not_local("192.0.2.1:0", plaintext);  // TEST-NET-1: no interface of this host has it
  const absl::Status status = not_local.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(status.message(), HasSubstr("192.0.2.1:0"));
}

TEST(HttpListenerTest, ListensOnIpv6Loopback) {
  HttpListener listener("[::1]:0");
  const absl::Status status = listener.Start();
  if (!status.ok()) GTEST_SKIP() << "no IPv6 loopback here: " << status;
  EXPECT_GT(listener.port(), 0);
}

}  // namespace
}  // namespace runyard::common
