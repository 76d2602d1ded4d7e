#include "runtime/spawn.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace runyard::runtime {
namespace {

// The child's own stack; what it runs (dup2, cgroup writes, mounts, setuid) needs little.
constexpr size_t kChildStackBytes = 256 * 1024;

// Everything the child reads, prepared by the parent (the child must not allocate), and
// where it leaves the reason it failed (it shares the parent's memory).
struct ChildContext {
  const SpawnRequest* request;
  const char* executable;
  char* const* argv;
  char* const* envp;
  const char* working_dir;
  int stdin_fd;
  int error = 0;
  const char* failed_step = nullptr;
};

[[noreturn]] void ChildFailed(ChildContext* context, const char* step, int error) {
  context->error = error != 0 ? error : EINVAL;
  context->failed_step = step;
  ::_exit(127);
}

// Runs in the child until exec. Every signal is blocked on entry (the parent blocked
// them before clone): handlers go back to default first, so none of the agent's can run
// here, on its memory; the mask is emptied last, as the script expects to start.
int ChildMain(void* raw) {
  auto* context = static_cast<ChildContext*>(raw);
  const SpawnRequest& request = *context->request;
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (int signal = 1; signal < NSIG; ++signal) {
    if (signal != SIGKILL && signal != SIGSTOP) ::sigaction(signal, &default_action, nullptr);
  }
  if (::dup2(context->stdin_fd, STDIN_FILENO) < 0) ChildFailed(context, "stdin", errno);
  if (::dup2(request.output_fd, STDOUT_FILENO) < 0 || ::dup2(request.output_fd, STDERR_FILENO) < 0) {
    ChildFailed(context, "stdout", errno);
  }
  if (::chdir(context->working_dir) != 0) ChildFailed(context, "chdir to the working directory", errno);
  if (::setsid() < 0) ChildFailed(context, "setsid", errno);
  if (request.child_setup) {
    if (const int error = request.child_setup(); error != 0) ChildFailed(context, "setup", error);
  }
  int first_closed = STDERR_FILENO + 1;
  if (request.inherit_fd >= 0) {
    // dup2 onto another number clears close-on-exec; onto the same one it must be cleared.
    const int done = request.inherit_fd == request.inherit_as ? ::fcntl(request.inherit_fd, F_SETFD, 0)
                                                              : ::dup2(request.inherit_fd, request.inherit_as);
    if (done < 0) ChildFailed(context, "pass the status descriptor", errno);
    first_closed = std::max(first_closed, request.inherit_as + 1);
  }
  if (::syscall(SYS_close_range, first_closed, ~0U, 0) != 0) ChildFailed(context, "close descriptors", errno);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(context->executable, context->argv, context->envp);
  ChildFailed(context, "exec", errno);
}

std::vector<char*> PointersTo(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (std::string& text : strings) pointers.push_back(text.data());
  pointers.push_back(nullptr);
  return pointers;
}

}  // namespace

absl::StatusOr<pid_t> Spawn(const SpawnRequest& request) {
  std::string executable = request.executable.string();
  std::vector<std::string> argv_strings = {executable};
  argv_strings.insert(argv_strings.end(), request.arguments.begin(), request.arguments.end());
  std::vector<std::string> env_strings = request.environment;
  std::vector<char*> argv = PointersTo(argv_strings);
  std::vector<char*> envp = PointersTo(env_strings);
  const std::string working_dir = request.working_dir.string();

  const int stdin_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (stdin_fd < 0) return absl::InternalError(absl::StrCat("cannot open /dev/null: ", std::strerror(errno)));
  void* stack = ::mmap(nullptr, kChildStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                       -1, 0);
  if (stack == MAP_FAILED) {
    ::close(stdin_fd);
    return absl::ResourceExhaustedError(absl::StrCat("cannot map a stack for the child: ", std::strerror(errno)));
  }
  ChildContext context{&request, executable.c_str(), argv.data(), envp.data(), working_dir.c_str(), stdin_fd};

  sigset_t all, previous;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  const pid_t pid = ::clone(ChildMain, static_cast<char*>(stack) + kChildStackBytes,
                            CLONE_VM | CLONE_VFORK | SIGCHLD, &context);
  const int clone_error = errno;
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  ::munmap(stack, kChildStackBytes);
  ::close(stdin_fd);

  if (pid < 0) return absl::ResourceExhaustedError(absl::StrCat("cannot start a process: ", std::strerror(clone_error)));
  if (context.error != 0) {
    ::waitpid(pid, nullptr, 0);  // it has exited already (CLONE_VFORK): reap it
    return absl::FailedPreconditionError(
        absl::StrCat(context.failed_step, ": ", std::strerror(context.error)));
  }
  return pid;
}

}  // namespace runyard::runtime
