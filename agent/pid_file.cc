#include "agent/pid_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace runyard::agent {
namespace {

std::filesystem::path PidPath(const std::filesystem::path& work_dir) { return work_dir / "agent.pid"; }

pid_t ReadPid(int fd) {
  char text[32] = {};
  const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
  return n > 0 ? static_cast<pid_t>(std::atoi(text)) : 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AgentPidFile>> AgentPidFile::Claim(const std::filesystem::path& work_dir) {
  std::error_code ec;
  std::filesystem::create_directories(work_dir, ec);
  const std::filesystem::path path = PidPath(work_dir);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open ", path.string(), ": ", strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const pid_t holder = ReadPid(fd);
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrCat("another runyard-agent (pid ", holder, ") already uses ",
                                                      work_dir.string()));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    ::close(fd);
    return absl::InternalError(absl::StrCat("cannot write ", path.string(), ": ", strerror(errno)));
  }
  return std::unique_ptr<AgentPidFile>(new AgentPidFile(fd));
}

AgentPidFile::~AgentPidFile() { ::close(fd_); }  // closing drops the lock

absl::StatusOr<pid_t> AgentPidFile::Holder(const std::filesystem::path& work_dir) {
  const std::filesystem::path path = PidPath(work_dir);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("no runyard-agent uses ", work_dir.string()));
  const bool free = ::flock(fd, LOCK_SH | LOCK_NB) == 0;
  const pid_t pid = ReadPid(fd);
  ::close(fd);
  if (free || pid <= 0) return absl::NotFoundError(absl::StrCat("no runyard-agent is running on ", work_dir.string()));
  return pid;
}

void AgentPidFile::WaitUntilReleased(const std::filesystem::path& work_dir) {
  const int fd = ::open(PidPath(work_dir).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  while (::flock(fd, LOCK_SH) != 0 && errno == EINTR) {
  }
  ::close(fd);
}

}  // namespace runyard::agent
