#include "sandbox/cgroup_files.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"

namespace runyard::sandbox {
namespace fs = std::filesystem;

int WritePid(int fd) {
  char digits[24];
  int length = 0;
  for (pid_t pid = ::getpid(); pid > 0; pid /= 10) digits[length++] = static_cast<char>('0' + pid % 10);
  char text[24];
  for (int i = 0; i < length; ++i) text[i] = digits[length - 1 - i];
  return ::write(fd, text, static_cast<size_t>(length)) == length ? 0 : errno;
}

std::vector<pid_t> ReadPids(const fs::path& procs) {
  std::vector<pid_t> pids;
  std::ifstream in(procs);
  for (pid_t pid; in >> pid;) pids.push_back(pid);
  return pids;
}

bool WriteText(const fs::path& file, const std::string& text) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

int64_t ReadNumber(const fs::path& file, int64_t fallback) {
  std::ifstream in(file);
  int64_t value = fallback;
  if (!(in >> value)) return fallback;
  return value;
}

int64_t ReadKeyed(const fs::path& file, const std::string& key) {
  std::ifstream in(file);
  for (std::string name; in >> name;) {
    int64_t value = 0;
    if (!(in >> value)) break;
    if (name == key) return value;
  }
  return 0;
}

absl::Status MakeCgroup(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::UnavailableError(absl::StrCat("cannot create cgroup ", dir.string(), ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

void RemoveWhenEmpty(const fs::path& dir) {
  for (int attempt = 0; attempt < 100 && ::rmdir(dir.c_str()) != 0 && errno == EBUSY; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

bool OnCgroupFilesystem(const fs::path& path) {
  struct statfs about;
  if (::statfs(path.c_str(), &about) != 0) return false;
  return about.f_type == CGROUP_SUPER_MAGIC || about.f_type == CGROUP2_SUPER_MAGIC;
}

}  // namespace runyard::sandbox
