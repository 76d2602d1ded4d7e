#include "common/http_listener.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>
#include <string_view>
#include <utility>

#include "common/loopback_host.h"
#include "common/tls_server_socket.h"

namespace runyard::common {
namespace {

using Clock = std::chrono::steady_clock;

// After the response, how long a client may go on sending before the connection is
// closed anyway. Reading what it sent (a head over the limit, say) before closing keeps
// the kernel from answering with a reset that could destroy the response in flight.
constexpr std::chrono::milliseconds kMaxLinger{1000};
constexpr size_t kMaxLingerBytes = 64 * 1024;

// True once `fd` is ready for `events`; false when the deadline passes or Stop() begins.
bool WaitFor(int fd, short events, int stop_fd, Clock::time_point deadline) {
  while (true) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd fds[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
    const int ready = ::poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count(), 60'000)));
    if (ready < 0 && errno != EINTR) return false;
    if (fds[1].revents != 0) return false;
    if (fds[0].revents != 0) return true;  // errors and hang-ups too: the next call reports them
  }
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "";
  }
}

HttpResponse ErrorResponse(int status) {
  return HttpResponse{status, "text/plain; charset=utf-8", std::string(ReasonPhrase(status)) + "\n"};
}

std::string ResponseText(const HttpResponse& response, bool head_only) {
  std::string text = "HTTP/1.1 " + std::to_string(response.status) + " " + ReasonPhrase(response.status) + "\r\n";
  text += "Content-Type: " + response.content_type + "\r\n";
  text += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
  if (response.status == 405) text += "Allow: GET, HEAD\r\n";
  text += "Connection: close\r\n\r\n";
  if (!head_only) text += response.body;
  return text;
}

// The length of the request head (request line, headers, blank line) at the start of
// `buffer`, or npos while it is incomplete. Bare "\n" line ends are accepted too.
size_t HeadLength(std::string_view buffer) {
  const size_t crlf = buffer.find("\r\n\r\n");
  const size_t lf = buffer.find("\n\n");
  return std::min(crlf == std::string_view::npos ? crlf : crlf + 4, lf == std::string_view::npos ? lf : lf + 2);
}

bool IsTokenChar(char c) {  // RFC 9110 tchar
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}
bool IsToken(std::string_view text) { return !text.empty() && std::all_of(text.begin(), text.end(), IsTokenChar); }

// "METHOD /target HTTP/1.x" and "Name: value" lines; nullopt when malformed. Header
// values are not needed, so they are not kept.
std::optional<HttpRequest> ParseHead(std::string_view head) {
  std::vector<std::string_view> lines;
  while (!head.empty()) {
    const size_t end = head.find('\n');
    std::string_view line = head.substr(0, end);
    if (line.ends_with('\r')) line.remove_suffix(1);
    lines.push_back(line);
    head.remove_prefix(end == std::string_view::npos ? head.size() : end + 1);
  }
  if (lines.size() < 2 || !lines.back().empty()) return std::nullopt;

  const std::string_view request_line = lines.front();
  const size_t first_space = request_line.find(' ');
  const size_t second_space = request_line.find(' ', first_space + 1);
  if (first_space == std::string_view::npos || second_space == std::string_view::npos) return std::nullopt;
  const std::string_view method = request_line.substr(0, first_space);
  const std::string_view target = request_line.substr(first_space + 1, second_space - first_space - 1);
  const std::string_view version = request_line.substr(second_space + 1);
  if (!IsToken(method) || (version != "HTTP/1.1" && version != "HTTP/1.0")) return std::nullopt;
  if (!target.starts_with('/') ||
      !std::all_of(target.begin(), target.end(), [](char c) { return c > ' ' && c < 0x7f; })) {
    return std::nullopt;
  }
  for (size_t i = 1; i + 1 < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == std::string_view::npos || !IsToken(lines[i].substr(0, colon))) return std::nullopt;
  }

  const size_t question = target.find('?');
  HttpRequest request{std::string(method), std::string(target.substr(0, question)), ""};
  if (question != std::string_view::npos) request.query = std::string(target.substr(question + 1));
  return request;
}

// "host:port" or "[v6 host]:port"; an empty host means every interface.
absl::Status SplitAddress(const std::string& address, std::string& host, std::string& port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError("listen address '" + address + "' is not host:port");
  }
  host = address.substr(0, colon);
  port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const bool port_ok = !port.empty() && port.size() <= 5 &&
                       std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
                       std::stoi(port) <= 65535;
  if (!port_ok) return absl::InvalidArgumentError("listen address '" + address + "' has no valid port");
  return absl::OkStatus();
}

}  // namespace

HttpListener::HttpListener(std::string address, HttpListenerOptions options)
    : address_(std::move(address)), options_(options) {}

HttpListener::~HttpListener() { Stop(); }

void HttpListener::Handle(std::string path, HttpHandler handler) {
  std::lock_guard lock(handlers_mutex_);
  handlers_[std::move(path)] = std::move(handler);
}

absl::Status HttpListener::Start() {
  if (listen_fd_ >= 0) return absl::FailedPreconditionError("listener on " + address_ + " is already started");
  std::string host, port;
  if (absl::Status status = SplitAddress(address_, host, port); !status.ok()) return status;
  if (!options_.tls_cert_file.empty() || !options_.tls_key_file.empty()) {
    absl::StatusOr<std::shared_ptr<TlsServerContext>> tls =
        TlsServerContext::Load(options_.tls_cert_file, options_.tls_key_file);
    if (!tls.ok()) {
      return absl::FailedPreconditionError("listener on " + address_ + ": " + std::string(tls.status().message()));
    }
    tls_ = *std::move(tls);
  } else if (!options_.insecure_plaintext && !IsLoopbackHost(host)) {
    return absl::FailedPreconditionError("listener on " + address_ +
                                         " would serve plaintext beyond this machine: give it tls_cert_file "
                                         "and tls_key_file, or set insecure_plaintext");
  }

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* addresses = nullptr;
  if (int error = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &addresses);
      error != 0) {
    return absl::InvalidArgumentError("cannot resolve listen address '" + address_ + "': " + ::gai_strerror(error));
  }
  int bind_errno = 0;
  for (addrinfo* candidate = addresses; candidate != nullptr && listen_fd_ < 0; candidate = candidate->ai_next) {
    const int fd = ::socket(candidate->ai_family, candidate->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                            candidate->ai_protocol);
    if (fd < 0) {
      bind_errno = errno;
      continue;
    }
    const int one = 1;  // a restarted daemon can bind again while old connections linger
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, candidate->ai_addr, candidate->ai_addrlen) == 0 && ::listen(fd, 64) == 0) {
      listen_fd_ = fd;
    } else {
      bind_errno = errno;
      ::close(fd);
    }
  }
  ::freeaddrinfo(addresses);
  if (listen_fd_ < 0) {
    return absl::UnavailableError("cannot listen on " + address_ + ": " + std::strerror(bind_errno));
  }

  sockaddr_storage bound{};
  socklen_t bound_size = sizeof bound;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &bound_size);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);

  int stop_pipe[2];
  if (::pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    const int pipe_errno = errno;
    ::close(listen_fd_);
    listen_fd_ = -1;
    return absl::InternalError("listener on " + address_ + ": pipe: " + std::strerror(pipe_errno));
  }
  stop_read_fd_ = stop_pipe[0];
  stop_write_fd_ = stop_pipe[1];
  for (int i = 0; i < std::max(1, options_.threads); ++i) threads_.emplace_back([this] { ServeConnections(); });
  return absl::OkStatus();
}

void HttpListener::Stop() {
  if (listen_fd_ < 0) return;
  // Never read: the pipe stays readable and wakes every thread, now and later.
  [[maybe_unused]] ssize_t written = ::write(stop_write_fd_, "x", 1);
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
  for (int* fd : {&listen_fd_, &stop_read_fd_, &stop_write_fd_}) {
    ::close(*fd);
    *fd = -1;
  }
}

void HttpListener::ServeConnections() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_read_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;  // EINTR
    if (fds[1].revents != 0) return;
    if (fds[0].revents == 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      // Out of descriptors or memory: the connection stays pending, so back off rather
      // than spin. Anything else (another thread took it, the client left): go on.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        pollfd stop = {stop_read_fd_, POLLIN, 0};
        ::poll(&stop, 1, 100);
      }
      continue;
    }
    ServeConnection(fd);
    ::close(fd);
  }
}

void HttpListener::ServeConnection(int fd) {
  // One deadline for the whole head, so a client sending a byte at a time gains nothing.
  const auto head_deadline = Clock::now() + options_.request_timeout;
  SocketStream stream(fd, tls_.get());
  std::string buffer;
  size_t head_length = std::string::npos;
  while ((head_length = HeadLength(buffer)) == std::string::npos && buffer.size() <= options_.max_request_head_bytes) {
    char chunk[4096];
    const SocketIo received = stream.Read(chunk, sizeof chunk);
    if (received.wait != 0) {
      // Silent, too slow, or stopping. A TLS handshake waits here too, under the same deadline.
      if (!WaitFor(fd, received.wait, stop_read_fd_, head_deadline)) return;
      continue;
    }
    if (received.bytes <= 0) return;  // the client left, or its TLS failed
    buffer.append(chunk, static_cast<size_t>(received.bytes));
  }

  HttpResponse response;
  bool head_only = false;
  if (head_length == std::string::npos || head_length > options_.max_request_head_bytes) {
    response = ErrorResponse(431);
  } else if (std::optional<HttpRequest> request = ParseHead(std::string_view(buffer).substr(0, head_length));
             !request) {
    response = ErrorResponse(400);
  } else if (request->method != "GET" && request->method != "HEAD") {
    response = ErrorResponse(405);
  } else {
    head_only = request->method == "HEAD";
    response = Respond(*request);
  }

  const std::string text = ResponseText(response, head_only);
  const auto write_deadline = Clock::now() + options_.request_timeout;
  for (size_t sent = 0; sent < text.size();) {
    const SocketIo written = stream.Write(text.data() + sent, text.size() - sent);
    if (written.bytes > 0) {
      sent += static_cast<size_t>(written.bytes);
    } else if (written.wait == 0 || !WaitFor(fd, written.wait, stop_read_fd_, write_deadline)) {
      return;
    }
  }

  stream.FinishWriting();
  const auto linger_deadline = Clock::now() + std::min<std::chrono::milliseconds>(kMaxLinger, options_.request_timeout);
  for (size_t drained = 0; drained < kMaxLingerBytes && WaitFor(fd, POLLIN, stop_read_fd_, linger_deadline);) {
    char chunk[4096];
    const ssize_t received = ::recv(fd, chunk, sizeof chunk, 0);
    if (received == 0 || (received < 0 && errno != EAGAIN && errno != EINTR)) return;
    if (received > 0) drained += static_cast<size_t>(received);
  }
}

HttpResponse HttpListener::Respond(const HttpRequest& request) {
  HttpHandler handler;
  {
    std::lock_guard lock(handlers_mutex_);
    auto it = handlers_.find(request.path);
    if (it == handlers_.end()) return ErrorResponse(404);
    handler = it->second;
  }
  try {
    return handler(request);
  } catch (const std::exception&) {
    return ErrorResponse(500);
  }
}

}  // namespace runyard::common
