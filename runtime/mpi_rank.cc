#include "runtime/mpi_rank.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace runyard::runtime {
namespace {

pid_t rank_pid = -1;
void PassOn(int signal_number) {
  if (rank_pid > 0) ::kill(rank_pid, signal_number);
}

void WriteAll(int fd, const char* data, ssize_t size) {
  while (size > 0) {
    const ssize_t wrote = ::write(fd, data, size);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return;  // a reader gone: the other copy still gets the bytes
    data += wrote;
    size -= wrote;
  }
}

}  // namespace

int RunMpiRank(const std::vector<std::string>& command) {
  if (command.empty()) {
    std::cerr << "runyard-ranks --mpi-rank: no command" << std::endl;
    return 127;
  }
  if (const char* dir = std::getenv(kMpiWorkingDirVariable); dir != nullptr && *dir != '\0') {
    if (::chdir(dir) != 0) {
      std::cerr << "runyard-ranks --mpi-rank: cannot enter " << dir << ": " << std::strerror(errno)
                << std::endl;
      return 127;
    }
  }
  int log_fd = -1;
  const char* log_dir = std::getenv(kMpiRankLogDirVariable);
  const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
  if (log_dir != nullptr && *log_dir != '\0' && rank != nullptr) {
    const std::string log = std::string(log_dir) + "/std_log_process_" + rank + ".txt";
    log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
      std::cerr << "runyard-ranks --mpi-rank: cannot write " << log << ": " << std::strerror(errno)
                << std::endl;
    }
  }
  int output[2];
  if (::pipe2(output, O_CLOEXEC) != 0) return 127;
  struct sigaction action = {};
  action.sa_handler = PassOn;
  for (const int signal_number : {SIGTERM, SIGINT, SIGHUP}) sigaction(signal_number, &action, nullptr);
  rank_pid = ::fork();
  if (rank_pid == 0) {
    for (const int signal_number : {SIGTERM, SIGINT, SIGHUP}) ::signal(signal_number, SIG_DFL);
    sigset_t none;  // a blocked signal would stay blocked across exec
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(output[1], 1);
    ::dup2(output[1], 2);
    std::vector<char*> argv;
    for (const std::string& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    std::cerr << "runyard-ranks --mpi-rank: cannot start " << command[0] << ": "
              << std::strerror(errno) << std::endl;
    _exit(127);
  }
  ::close(output[1]);
  if (rank_pid < 0) return 127;
  char buffer[16384];
  while (true) {
    const ssize_t got = ::read(output[0], buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    if (log_fd >= 0) WriteAll(log_fd, buffer, got);
    WriteAll(1, buffer, got);
  }
  int status = 0;
  while (::waitpid(rank_pid, &status, 0) < 0 && errno == EINTR) {}
  if (WIFSIGNALED(status)) {
    ::signal(WTERMSIG(status), SIG_DFL);
    ::kill(::getpid(), WTERMSIG(status));
    return 128 + WTERMSIG(status);
  }
  return WEXITSTATUS(status);
}

}  // namespace runyard::runtime
