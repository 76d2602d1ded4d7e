#include "common/helper_command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/owned_children.h"

extern char** environ;

namespace runyard::common {
namespace {

using SteadyClock = std::chrono::steady_clock;

// How long a command killed at its timeout may take to die before it is left to the
// agent's orphan reaper: one stuck in the kernel (a hung GPU driver) never does.
constexpr auto kReapAfterKill = std::chrono::seconds(1);

// Closes what it holds at the end of the scope.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Close(); }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Close();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read, write;
};

absl::StatusOr<Pipe> MakePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  Pipe pipe;
  pipe.read = Fd(fds[0]);
  pipe.write = Fd(fds[1]);
  return pipe;
}

int MillisecondsUntil(SteadyClock::time_point deadline) {
  const auto left =
      std::chrono::ceil<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, 1 << 30));
}

// "NAME=value" strings: the caller's environment with `overrides` set on top.
std::vector<std::string> EnvironmentWith(const std::map<std::string, std::string>& overrides) {
  std::vector<std::string> entries;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view line(*entry);
    if (overrides.contains(std::string(line.substr(0, line.find('='))))) continue;
    entries.emplace_back(line);
  }
  for (const auto& [name, value] : overrides) entries.push_back(absl::StrCat(name, "=", value));
  return entries;
}

std::vector<char*> NullTerminated(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& text : strings) pointers.push_back(text.data());
  pointers.push_back(nullptr);
  return pointers;
}

// The posix_spawn attributes and file actions of one helper, destroyed with it.
class SpawnSetup {
 public:
  SpawnSetup() {
    posix_spawnattr_init(&attributes_);
    posix_spawn_file_actions_init(&actions_);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions_);
    posix_spawnattr_destroy(&attributes_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  // Its own process group (killed as one), no signal blocked (the agent blocks those it
  // waits for) nor ignored, stdin /dev/null, output into the pipes.
  int Prepare(const HelperCommand& command, int stdout_fd, int stderr_fd) {
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (int signal : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD})
      sigaddset(&defaults, signal);
    int rc = posix_spawnattr_setflags(
        &attributes_, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (rc == 0) rc = posix_spawnattr_setpgroup(&attributes_, 0);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&attributes_, &none);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attributes_, &defaults);
    if (rc == 0)
      rc = posix_spawn_file_actions_addopen(&actions_, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions_, stdout_fd, STDOUT_FILENO);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions_, stderr_fd, STDERR_FILENO);
    if (rc == 0 && command.working_directory) {
      rc = posix_spawn_file_actions_addchdir_np(&actions_, command.working_directory->c_str());
    }
    return rc;
  }

  const posix_spawnattr_t* attributes() const { return &attributes_; }
  const posix_spawn_file_actions_t* actions() const { return &actions_; }

 private:
  posix_spawnattr_t attributes_;
  posix_spawn_file_actions_t actions_;
};

// One started helper: its output read into the result until both streams end, its exit
// awaited, everything bounded by the deadline.
class Supervision {
 public:
  Supervision(pid_t pid, SteadyClock::time_point deadline, size_t max_output_bytes)
      : pid_(pid),
        deadline_(deadline),
        max_output_bytes_(max_output_bytes),
        // Readable when the child has exited (Linux 5.3+); without it, exits are polled.
        exit_fd_(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))) {}

  // Reads `out` (and `err`, unless negative) until the command and its output have ended,
  // or the deadline: then its whole group is killed.
  void Supervise(int out, int err, HelperCommandResult* result) {
    std::array<std::string*, 2> sinks{&result->output, &result->errors};
    std::array<pollfd, 3> fds{pollfd{out, POLLIN, 0}, pollfd{err, POLLIN, 0},
                              pollfd{exit_fd_.get(), POLLIN, 0}};
    while (!exited_ || fds[0].fd >= 0 || fds[1].fd >= 0) {
      int wait_ms = MillisecondsUntil(deadline_);
      if (wait_ms == 0) break;
      if (!exited_ && exit_fd_.get() < 0) wait_ms = std::min(wait_ms, 10);  // no pidfd: look soon
      const int ready = ::poll(fds.data(), fds.size(), wait_ms);
      if (ready < 0 && errno != EINTR) break;
      for (size_t i = 0; i < 2 && ready > 0; ++i) {
        if (fds[i].fd >= 0 && fds[i].revents != 0 && !ReadSome(fds[i].fd, sinks[i])) fds[i].fd = -1;
      }
      if (!exited_ && TakeExit()) fds[2].fd = -1;  // poll skips negative descriptors
    }
    if (!exited_) {
      result->timed_out = true;
      KillGroup();
      ReapBy(SteadyClock::now() + kReapAfterKill);
      return;
    }
    // Output still open past the deadline: held by a process that left the command's group.
    result->exit_code = WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
  }

 private:
  // Appends what `fd` has (up to the bound; the rest is read and dropped); false at its end.
  bool ReadSome(int fd, std::string* sink) {
    std::array<char, 16384> buffer;
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0) return errno == EINTR || errno == EAGAIN;
    if (n == 0) return false;
    const size_t room = max_output_bytes_ > sink->size() ? max_output_bytes_ - sink->size() : 0;
    sink->append(buffer.data(), std::min(room, static_cast<size_t>(n)));
    return true;
  }

  // Reaps the command if it has exited. What it left running in its group is killed
  // first (its pid still names the group then): such a process could hold the output
  // open until the timeout, and nothing of a helper outlives it.
  bool TakeExit() {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
        info.si_pid != pid_) {
      return false;
    }
    KillGroup();
    return ReapBy(SteadyClock::now());
  }

  void KillGroup() {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);  // in case it left its group
  }

  // Waits for the command to be reaped until `deadline`; a process stuck in the kernel
  // may never end, and is then left to the orphan reaper (it is no longer owned).
  bool ReapBy(SteadyClock::time_point deadline) {
    while (true) {
      const pid_t done = ::waitpid(pid_, &status_, WNOHANG);
      if (done == pid_) return exited_ = true;
      if (done < 0 && errno != EINTR) return false;
      const int wait_ms = MillisecondsUntil(deadline);
      if (done == 0 && wait_ms == 0) return false;
      pollfd exit{exit_fd_.get(), POLLIN, 0};
      if (exit.fd >= 0) {
        ::poll(&exit, 1, wait_ms);
      } else {
        ::usleep(5000);
      }
    }
  }

  const pid_t pid_;
  const SteadyClock::time_point deadline_;
  const size_t max_output_bytes_;
  Fd exit_fd_;
  bool exited_ = false;
  int status_ = 0;
};

class PosixCommandRunner final : public CommandRunner {
 public:
  absl::StatusOr<HelperCommandResult> Run(const HelperCommand& command) override {
    if (command.argv.empty() || command.argv[0].empty())
      return absl::InvalidArgumentError("empty command");
    if (command.working_directory) {
      std::error_code ec;
      if (!std::filesystem::is_directory(*command.working_directory, ec)) {
        return absl::FailedPreconditionError(absl::StrCat(
            "cannot run ", command.argv[0], ": no folder ", command.working_directory->string()));
      }
    }
    const SteadyClock::time_point deadline = SteadyClock::now() + command.timeout;
    absl::StatusOr<Pipe> out = MakePipe();
    if (!out.ok()) return out.status();
    std::optional<Pipe> err;
    if (!command.merge_stderr) {
      absl::StatusOr<Pipe> made = MakePipe();
      if (!made.ok()) return made.status();
      err = std::move(*made);
    }
    SpawnSetup setup;
    if (const int rc =
            setup.Prepare(command, out->write.get(), err ? err->write.get() : out->write.get());
        rc != 0) {
      return absl::InternalError(absl::StrCat("posix_spawn setup: ", strerror(rc)));
    }
    std::vector<std::string> argv = command.argv;
    std::vector<std::string> environment = EnvironmentWith(command.environment);
    std::vector<char*> argv_pointers = NullTerminated(argv);
    std::vector<char*> environment_pointers = NullTerminated(environment);

    OwnedChild owned;  // the agent's orphan reaper leaves this child to us
    pid_t pid = -1;
    const int rc = posix_spawnp(&pid, argv_pointers[0], setup.actions(), setup.attributes(),
                                argv_pointers.data(), environment_pointers.data());
    if (rc != 0) {
      const std::string why = absl::StrCat("cannot run ", command.argv[0], ": ", strerror(rc));
      if (rc == ENOENT || rc == EACCES || rc == ENOEXEC || rc == ENOTDIR || rc == ELOOP ||
          rc == ENAMETOOLONG) {
        return absl::NotFoundError(why);
      }
      return absl::InternalError(why);
    }
    owned.Own(pid);
    out->write.Close();
    if (err) err->write.Close();

    HelperCommandResult result;
    Supervision(pid, deadline, command.max_output_bytes)
        .Supervise(out->read.get(), err ? err->read.get() : -1, &result);
    return result;
  }
};

}  // namespace

CommandRunner* CommandRunner::Real() {
  static CommandRunner* const runner =
      new PosixCommandRunner();  // never destroyed: used until _Exit
  return runner;
}

absl::StatusOr<HelperCommandResult> RunHelperCommand(const HelperCommand& command) {
  return CommandRunner::Real()->Run(command);
}

}  // namespace runyard::common
