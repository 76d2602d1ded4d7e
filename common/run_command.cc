#include "common/run_command.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "common/owned_children.h"

namespace runyard::common {

absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv, bool merge_stderr) {
  if (argv.empty()) return absl::InvalidArgumentError("empty command");
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return absl::InternalError(std::string("pipe: ") + strerror(errno));
  std::vector<const char*> args;
  for (const auto& arg : argv) args.push_back(arg.c_str());
  args.push_back(nullptr);
  OwnedChild owned;  // the agent's orphan reaper leaves this child to the waitpid below
  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError(std::string("fork: ") + strerror(errno));
  if (pid == 0) {
    ::dup2(out[1], 1);
    if (merge_stderr) {
      ::dup2(out[1], 2);
    } else {
      const int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 2);
    }
    ::execvp(args[0], const_cast<char* const*>(args.data()));
    ::_exit(127);
  }
  owned.Own(pid);
  ::close(out[1]);
  CommandResult result;
  std::array<char, 8192> buffer{};
  ssize_t n;
  while ((n = ::read(out[0], buffer.data(), buffer.size())) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) result.output.append(buffer.data(), static_cast<size_t>(n));
  }
  ::close(out[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (result.exit_code == 127) return absl::NotFoundError("cannot run " + argv[0]);
  return result;
}

}  // namespace runyard::common
