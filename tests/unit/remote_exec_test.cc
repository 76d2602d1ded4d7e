// The listener of an MPI run's node k > 0 and node 0's rsh agent (runtime/remote_exec.h):
// a wrong secret is refused and the listener keeps waiting, the command's output and exit
// code come back, and a hang-up of node 0 stops the command and ends the node's part well.
#include "runtime/remote_exec.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sys/wait.h>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/scoped_temp_dir.h"
#include "tests/unit/wait_for.h"

namespace runyard::runtime {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

class RemoteExecTest : public ::testing::Test {
 protected:
  // Starts a listener on a free port in a child process (it catches SIGTERM and reaps its
  // command: not this test's business); returns the port once it listens.
  int Serve() {
    int ready[2], logged[2];
    if (::pipe(ready) != 0 || ::pipe(logged) != 0) return -1;
    server_ = ::fork();
    if (server_ == 0) {
      ::close(ready[0]);
      ::close(logged[0]);
      RemoteExecServerOptions options;
      options.secret = "right";
      options.kill_grace = 2s;
      options.on_listening = [&](int port) {
        [[maybe_unused]] ssize_t ignored = ::write(ready[1], &port, sizeof port);
      };
      std::ostringstream log;
      const int code = ServeRemoteExec(options, log);
      [[maybe_unused]] ssize_t ignored = ::write(logged[1], log.str().data(), log.str().size());
      _exit(code);
    }
    ::close(ready[1]);
    ::close(logged[1]);
    log_fd_ = logged[0];
    int port = -1;
    if (::read(ready[0], &port, sizeof port) != sizeof port) port = -1;
    ::close(ready[0]);
    return port;
  }
  // The listener's exit code, its log in log_.
  int Served() {
    int status = 0;
    ::waitpid(server_, &status, 0);
    char buffer[4096];
    ssize_t got;
    while ((got = ::read(log_fd_, buffer, sizeof buffer)) > 0) log_.append(buffer, got);
    ::close(log_fd_);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  int Run(int port, const std::string& secret, const std::string& command) {
    return RunRemoteCommand("127.0.0.1", port, secret, command, 10s);
  }

  pid_t server_ = -1;
  int log_fd_ = -1;
  std::string log_;
};

TEST_F(RemoteExecTest, RelaysOutputAndExitCode) {
  const int port = Serve();
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int code = Run(port, "right", "echo to-out; echo to-err >&2; exit 7");
  const std::string out = ::testing::internal::GetCapturedStdout();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(code, 7);
  EXPECT_EQ(out, "to-out\n");
  EXPECT_EQ(err, "to-err\n");
  EXPECT_EQ(Served(), 7);  // the node ends as its command did
}

TEST_F(RemoteExecTest, AWrongSecretIsRefusedAndTheListenerKeepsWaiting) {
  const int port = Serve();
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(Run(port, "wrong", "touch /tmp/should-not-run"), 255);
  EXPECT_THAT(::testing::internal::GetCapturedStderr(), HasSubstr("refused: wrong secret"));
  EXPECT_EQ(Run(port, "right", "exit 0"), 0);
  EXPECT_EQ(Served(), 0);
  EXPECT_THAT(log_, HasSubstr("refused a connection: wrong secret"));
}

TEST_F(RemoteExecTest, AHangUpOfNodeZeroStopsTheCommand) {
  const int port = Serve();
  testutil::ScopedTempDir tmp;
  const std::string pid_file = (tmp.path() / "pid").string();
  const std::string command = "echo $$ > " + pid_file + ".tmp; mv " + pid_file + ".tmp " +
                              pid_file + "; exec sleep 60";
  // Node 0 by hand: the request, then the connection closed while the command runs.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in target = {};
  target.sin_family = AF_INET;
  target.sin_port = htons(static_cast<uint16_t>(port));
  target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&target), sizeof target), 0);
  const std::string request =
      "runyard-remote-exec 1\nright\n" + std::to_string(command.size()) + "\n" + command;
  ASSERT_EQ(::write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  ASSERT_TRUE(testutil::PollUntil([&] { return std::filesystem::exists(pid_file); }, 30s));
  pid_t pid = 0;
  std::ifstream(pid_file) >> pid;
  ASSERT_GT(pid, 0);
  ::close(fd);
  // The command is stopped after the hang-up's grace, and the node's part ends well: node
  // 0's mpirun decides the job's fate (mpirun hangs up as a job that went well ends too).
  EXPECT_EQ(Served(), 0) << log_;
  EXPECT_THAT(log_, HasSubstr("node 0 hung up; SIGTERM to the command"));
  EXPECT_NE(::kill(pid, 0), 0);  // gone (and reaped)
}

}  // namespace
}  // namespace runyard::runtime
