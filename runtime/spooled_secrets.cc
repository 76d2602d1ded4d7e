#include "runtime/spooled_secrets.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/read_file.h"

namespace runyard::runtime {

// Each value as its length (8 bytes, this node's byte order) and its bytes: values may
// hold any byte but NUL.
absl::Status WriteSpooledSecrets(const std::filesystem::path& file,
                                 const std::vector<std::string>& secrets) {
  std::string bytes;
  for (const std::string& secret : secrets) {
    const auto size = static_cast<int64_t>(secret.size());
    bytes.append(reinterpret_cast<const char*>(&size), sizeof size);
    bytes.append(secret);
  }
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot write ", file.string(), ": ", strerror(errno)));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  const bool closed = ::close(fd) == 0;
  if (done != bytes.size() || !closed) {
    return absl::InternalError(absl::StrCat("cannot write ", file.string(), ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

std::vector<std::string> ReadSpooledSecrets(const std::filesystem::path& file) {
  const std::string bytes = common::ReadFileOrEmpty(file);
  std::vector<std::string> secrets;
  for (size_t at = 0; at + sizeof(int64_t) <= bytes.size();) {
    int64_t size = 0;
    std::memcpy(&size, bytes.data() + at, sizeof size);
    at += sizeof size;
    if (size < 0 || static_cast<uint64_t>(size) > bytes.size() - at) return {};  // not ours
    secrets.push_back(bytes.substr(at, static_cast<size_t>(size)));
    at += static_cast<size_t>(size);
  }
  return secrets;
}

}  // namespace runyard::runtime
