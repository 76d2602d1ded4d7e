#include "runtime/remote_exec.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

namespace runyard::runtime {
namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kGreeting = "runyard-remote-exec 1";
constexpr size_t kMaxCommandBytes = 1 << 20;
constexpr auto kRequestTimeout = std::chrono::seconds(10);
constexpr int kLostExitCode = 255;

// SIGTERM, SIGINT and SIGHUP to the listener, seen by its poll loop.
int signal_pipe[2] = {-1, -1};
void OnSignal(int signal_number) {
  const unsigned char byte = static_cast<unsigned char>(signal_number);
  [[maybe_unused]] ssize_t ignored = ::write(signal_pipe[1], &byte, 1);
}
void CatchStopSignals() {
  if (signal_pipe[0] < 0 && ::pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return;
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  for (const int signal_number : {SIGTERM, SIGINT, SIGHUP}) sigaction(signal_number, &action, nullptr);
  ::signal(SIGPIPE, SIG_IGN);  // a closed connection is an error from send, not a death
}

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t wrote = ::send(fd, data, size, MSG_NOSIGNAL);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return false;
    data += wrote;
    size -= static_cast<size_t>(wrote);
  }
  return true;
}

bool WriteToFd(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t wrote = ::write(fd, data, size);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return false;
    data += wrote;
    size -= static_cast<size_t>(wrote);
  }
  return true;
}

bool SendFrame(int fd, char channel, const std::string& bytes) {
  const uint32_t length = htonl(static_cast<uint32_t>(bytes.size()));
  char header[5] = {channel};
  std::memcpy(header + 1, &length, 4);
  return WriteAll(fd, header, sizeof header) && WriteAll(fd, bytes.data(), bytes.size());
}

// Reads exactly `size` bytes before `deadline`; false on EOF, error or timeout.
bool ReadExactly(int fd, char* data, size_t size, Clock::time_point deadline) {
  while (size > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd wait = {fd, POLLIN, 0};
    if (::poll(&wait, 1, static_cast<int>(left.count())) <= 0) {
      if (errno == EINTR) continue;
      return false;
    }
    const ssize_t got = ::recv(fd, data, size, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    data += got;
    size -= static_cast<size_t>(got);
  }
  return true;
}

bool ReadLine(int fd, std::string& line, size_t max, Clock::time_point deadline) {
  line.clear();
  char c = 0;
  while (line.size() <= max) {
    if (!ReadExactly(fd, &c, 1, deadline)) return false;
    if (c == '\n') return true;
    line.push_back(c);
  }
  return false;
}

bool SameSecret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char difference = 0;  // no early exit: the time says nothing of the secret
  for (size_t i = 0; i < a.size(); ++i) difference |= static_cast<unsigned char>(a[i] ^ b[i]);
  return difference == 0;
}

// The command of an authenticated request; an error saying why the request is refused.
absl::StatusOr<std::string> ReadRequest(int fd, const std::string& secret) {
  const auto deadline = Clock::now() + kRequestTimeout;
  std::string greeting, offered, length_text;
  if (!ReadLine(fd, greeting, 64, deadline) || greeting != kGreeting) {
    return absl::InvalidArgumentError("not a runyard remote-exec request");
  }
  if (!ReadLine(fd, offered, 256, deadline) || !SameSecret(offered, secret)) {
    return absl::PermissionDeniedError("wrong secret");
  }
  size_t length = 0;
  if (!ReadLine(fd, length_text, 20, deadline) || length_text.empty() ||
      length_text.find_first_not_of("0123456789") != std::string::npos ||
      (length = std::stoull(length_text)) > kMaxCommandBytes) {
    return absl::InvalidArgumentError("bad command length");
  }
  std::string command(length, '\0');
  if (!ReadExactly(fd, command.data(), length, deadline)) {
    return absl::InvalidArgumentError("the command was cut short");
  }
  return command;
}

int ListenOn(int port, int& bound_port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int yes = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  address.sin_port = htons(static_cast<uint16_t>(port));
  socklen_t size = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(fd, 4) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    ::close(fd);
    return -1;
  }
  bound_port = ntohs(address.sin_port);
  return fd;
}

// The first authenticated connection; -1 when a stop signal came first.
int AcceptAuthenticated(int listener, const std::string& secret, std::string& command,
                        std::ostream& log) {
  while (true) {
    pollfd waits[2] = {{listener, POLLIN, 0}, {signal_pipe[0], POLLIN, 0}};
    if (::poll(waits, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (waits[1].revents != 0) return -1;
    const int connection = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (connection < 0) continue;
    absl::StatusOr<std::string> request = ReadRequest(connection, secret);
    if (request.ok()) {
      command = std::move(*request);
      return connection;
    }
    log << "runyard-ranks: refused a connection: " << request.status().message() << std::endl;
    SendFrame(connection, 'e', "runyard-ranks: refused: " + std::string(request.status().message()) + "\n");
    ::close(connection);
  }
}

pid_t StartShell(const std::string& command, int out_fd, int err_fd) {
  const pid_t pid = ::fork();
  if (pid != 0) {
    if (pid > 0) ::setpgid(pid, pid);  // both sides, whoever runs first
    return pid;
  }
  ::setpgid(0, 0);
  for (const int signal_number : {SIGTERM, SIGINT, SIGHUP, SIGPIPE}) ::signal(signal_number, SIG_DFL);
  sigset_t none;  // a blocked signal would stay blocked across exec
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  const int null_fd = ::open("/dev/null", O_RDONLY);
  ::dup2(null_fd, 0);
  ::dup2(out_fd, 1);
  ::dup2(err_fd, 2);
  ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
  _exit(127);
}

// Runs the command, streaming its output to `connection`, until it ended.
int RunCommand(int connection, const std::string& command,
               const RemoteExecServerOptions& options, std::ostream& log) {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    SendFrame(connection, 'e', "runyard-ranks: cannot make pipes\n");
    return kLostExitCode;
  }
  const pid_t pid = StartShell(command, out[1], err[1]);
  ::close(out[1]);
  ::close(err[1]);
  if (pid < 0) {
    SendFrame(connection, 'e', "runyard-ranks: cannot fork\n");
    return kLostExitCode;
  }
  log << "runyard-ranks: running for node 0 (process group " << pid << "): " << command
      << std::endl;
  bool connected = true;
  // mpirun closes its rsh agents as the job ends, while the daemons are still exiting on
  // their own: a hang-up gives the command this long before it is stopped.
  constexpr auto kHangUpGrace = std::chrono::seconds(2);
  std::optional<Clock::time_point> hung_up_at;
  std::optional<Clock::time_point> terminated_at;
  auto stop = [&](const char* why) {
    if (terminated_at) return;
    log << "runyard-ranks: " << why << "; SIGTERM to the command" << std::endl;
    ::killpg(pid, SIGTERM);
    terminated_at = Clock::now();
  };
  int streams[2] = {out[0], err[0]};
  const char channels[2] = {'o', 'e'};
  int status = 0;
  bool ended = false;
  while (!ended || streams[0] >= 0 || streams[1] >= 0) {
    pollfd waits[4] = {{streams[0], POLLIN, 0}, {streams[1], POLLIN, 0},
                       {connected ? connection : -1, POLLIN, 0}, {signal_pipe[0], POLLIN, 0}};
    // Once the shell ended, what is left in the pipes is taken without waiting for an EOF a
    // stray descendant could hold back.
    ::poll(waits, 4, ended ? 0 : 100);
    bool drained = true;
    for (int i = 0; i < 2; ++i) {
      if (streams[i] < 0 || waits[i].revents == 0) continue;
      char buffer[16384];
      const ssize_t got = ::read(streams[i], buffer, sizeof buffer);
      if (got > 0) {
        drained = false;
        if (connected && !SendFrame(connection, channels[i], std::string(buffer, got))) {
          connected = false;
          stop("the connection from node 0 was lost");
        }
      } else if (got == 0 || errno != EINTR) {
        ::close(streams[i]);
        streams[i] = -1;
      }
    }
    if (connected && waits[2].revents != 0) {
      char byte;
      if (::recv(connection, &byte, 1, MSG_DONTWAIT) <= 0) {
        connected = false;
        hung_up_at = Clock::now();
      }
    }
    if (hung_up_at && !ended && Clock::now() - *hung_up_at > kHangUpGrace) {
      stop("node 0 hung up");
    }
    if (waits[3].revents != 0) {
      unsigned char signal_number = 0;
      while (::read(signal_pipe[0], &signal_number, 1) == 1) {}
      stop("stopped by a signal");
    }
    if (terminated_at && Clock::now() - *terminated_at > options.kill_grace) {
      ::killpg(pid, SIGKILL);
    }
    if (!ended) {
      ended = ::waitpid(pid, &status, WNOHANG) == pid;
    } else if (drained) {
      break;
    }
  }
  ::killpg(pid, SIGKILL);  // whatever of the command's group outlived its shell
  for (const int fd : streams) {
    if (fd >= 0) ::close(fd);
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  log << "runyard-ranks: the command "
      << (WIFEXITED(status) ? "exited with code " + std::to_string(code)
                            : "was killed by signal " + std::to_string(WTERMSIG(status)))
      << std::endl;
  // Node 0 hung up: the job is over, and node 0's mpirun decides its fate (a rank that
  // failed here made mpirun fail; a node 0 that was lost fails the gang as AgentLost).
  // What the daemon said as it was stopped says nothing more.
  if (hung_up_at) {
    log << "runyard-ranks: node 0 hung up: this node's part ended" << std::endl;
    return 0;
  }
  if (!connected) return code;
  SendFrame(connection, 'x', std::to_string(code));
  return code;
}

int ConnectTo(const std::string& address, int port, std::chrono::milliseconds timeout) {
  sockaddr_in target = {};
  target.sin_family = AF_INET;
  target.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, address.c_str(), &target.sin_addr) != 1) {
    std::cerr << "runyard-ranks: '" << address << "' is not an IPv4 address" << std::endl;
    return -1;
  }
  const auto deadline = Clock::now() + timeout;
  while (true) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&target), sizeof target) == 0) return fd;
    const int error = errno;
    ::close(fd);
    // Refused: the node is still getting ready (snapshot, environment); it listens soon.
    if ((error != ECONNREFUSED && error != EINTR) || Clock::now() >= deadline) {
      std::cerr << "runyard-ranks: cannot connect to " << address << ":" << port << ": "
                << std::strerror(error) << std::endl;
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

int ServeRemoteExec(const RemoteExecServerOptions& options, std::ostream& log) {
  CatchStopSignals();
  int port = 0;
  const int listener = ListenOn(options.port, port);
  if (listener < 0) {
    log << "runyard-ranks: cannot listen on port " << options.port << ": " << std::strerror(errno)
        << std::endl;
    return kLostExitCode;
  }
  log << "runyard-ranks: waiting for node 0 on port " << port << std::endl;
  if (!options.started_file.empty()) std::ofstream(options.started_file) << port << "\n";
  if (options.on_listening) options.on_listening(port);
  std::string command;
  const int connection = AcceptAuthenticated(listener, options.secret, command, log);
  ::close(listener);  // one command per node and attempt
  if (connection < 0) {
    log << "runyard-ranks: stopped before node 0 connected" << std::endl;
    return 128 + SIGTERM;
  }
  const int code = RunCommand(connection, command, options, log);
  ::close(connection);
  return code;
}

int RunRemoteCommand(const std::string& address, int port, const std::string& secret,
                     const std::string& command, std::chrono::milliseconds connect_timeout) {
  ::signal(SIGPIPE, SIG_IGN);
  const int fd = ConnectTo(address, port, connect_timeout);
  if (fd < 0) return kLostExitCode;
  const std::string request = std::string(kGreeting) + "\n" + secret + "\n" +
                              std::to_string(command.size()) + "\n" + command;
  if (!WriteAll(fd, request.data(), request.size())) {
    std::cerr << "runyard-ranks: lost " << address << ":" << port << std::endl;
    return kLostExitCode;
  }
  const auto forever = Clock::time_point::max();
  while (true) {
    char header[5];
    if (!ReadExactly(fd, header, sizeof header, forever)) break;
    uint32_t length = 0;
    std::memcpy(&length, header + 1, 4);
    length = ntohl(length);
    std::string bytes(length, '\0');
    if (!ReadExactly(fd, bytes.data(), length, forever)) break;
    if (header[0] == 'x') {
      ::close(fd);
      return std::atoi(bytes.c_str());
    }
    WriteToFd(header[0] == 'e' ? 2 : 1, bytes.data(), bytes.size());
  }
  ::close(fd);
  std::cerr << "runyard-ranks: " << address << ":" << port
            << " closed the connection before the command ended" << std::endl;
  return kLostExitCode;
}

std::string RemoteNodeMapText(const RemoteNodeMap& map) {
  std::ostringstream text;
  text << "secret " << map.secret << "\n";
  for (const auto& [name, node] : map.nodes) {
    text << "node " << name << " " << node.address << " " << node.port << "\n";
  }
  return text.str();
}

absl::StatusOr<RemoteNodeMap> ReadRemoteNodeMap(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return absl::NotFoundError("cannot read " + file.string());
  RemoteNodeMap map;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string kind;
    fields >> kind;
    if (kind == "secret") {
      fields >> map.secret;
    } else if (kind == "node") {
      std::string name;
      RemoteNode node;
      if (!(fields >> name >> node.address >> node.port)) {
        return absl::InvalidArgumentError(file.string() + ": bad line '" + line + "'");
      }
      map.nodes[name] = node;
    }
  }
  if (map.secret.empty()) return absl::InvalidArgumentError(file.string() + ": no secret");
  return map;
}

}  // namespace runyard::runtime
