#include "agent/bounded_command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/owned_children.h"

namespace runyard::agent {
namespace {

using Clock = std::chrono::steady_clock;

// Closes what it holds at the end of the scope.
struct Fd {
  int fd = -1;
  ~Fd() { Close(); }
  void Close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

int MillisecondsUntil(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::max<int64_t>(left, 0));
}

// Reaps `pid` if it ends by `deadline`. A process stuck in the kernel (a hung driver) may
// never end; it is then left to the agent's orphan reaper, which takes unowned zombies.
bool ReapBy(pid_t pid, Clock::time_point deadline, int* status) {
  while (true) {
    const pid_t done = ::waitpid(pid, status, WNOHANG);
    if (done == pid || (done < 0 && errno != EINTR)) return done == pid;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

absl::StatusOr<BoundedCommandResult> RunBoundedCommand(const std::vector<std::string>& argv,
                                                       std::chrono::milliseconds timeout) {
  if (argv.empty()) return absl::InvalidArgumentError("empty command");
  const Clock::time_point deadline = Clock::now() + timeout;
  int out[2], err[2], exec_error[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  Fd out_read{out[0]}, out_write{out[1]};
  if (::pipe2(err, O_CLOEXEC) != 0) return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  Fd err_read{err[0]}, err_write{err[1]};
  // Written only when exec fails (closed by a successful exec): tells "cannot start" apart.
  if (::pipe2(exec_error, O_CLOEXEC) != 0) return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  Fd exec_error_read{exec_error[0]}, exec_error_write{exec_error[1]};
  std::vector<const char*> args;
  for (const auto& arg : argv) args.push_back(arg.c_str());
  args.push_back(nullptr);

  common::OwnedChild owned;  // the orphan reaper leaves this child to us
  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    ::setpgid(0, 0);  // its own group, so a timeout kills what it started too
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the agent blocks signals it waits for
    const int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execvp(args[0], const_cast<char* const*>(args.data()));
    const int error = errno;
    ssize_t ignored = ::write(exec_error[1], &error, sizeof error);
    static_cast<void>(ignored);
    ::_exit(127);
  }
  owned.Own(pid);
  ::setpgid(pid, pid);  // also here: whichever runs first, the group exists before a kill
  out_write.Close();
  err_write.Close();
  exec_error_write.Close();

  BoundedCommandResult result;
  std::array<char, 8192> buffer{};
  std::array<pollfd, 2> fds{pollfd{out_read.fd, POLLIN, 0}, pollfd{err_read.fd, POLLIN, 0}};
  std::array<std::string*, 2> sinks{&result.output, &result.errors};
  int open_streams = 2;
  while (open_streams > 0 && !result.timed_out) {
    const int ready = ::poll(fds.data(), fds.size(), MillisecondsUntil(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      result.timed_out = true;
      break;
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buffer.data(), buffer.size());
      if (n > 0) {
        sinks[i]->append(buffer.data(), static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;  // poll ignores negative descriptors
        --open_streams;
      }
    }
  }

  int status = 0;
  if (!result.timed_out && !ReapBy(pid, deadline, &status)) result.timed_out = true;
  if (result.timed_out) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    ReapBy(pid, Clock::now() + std::chrono::seconds(1), &status);
    return result;
  }
  int exec_errno = 0;
  if (::read(exec_error_read.fd, &exec_errno, sizeof exec_errno) == sizeof exec_errno) {
    return absl::NotFoundError(absl::StrCat("cannot run ", argv[0], ": ", strerror(exec_errno)));
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace runyard::agent
