#include "runtime/file_range.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace runyard::runtime {

std::string ReadFileRange(const std::filesystem::path& file, int64_t offset, int64_t length, int64_t* short_by) {
  std::string bytes(static_cast<size_t>(length), '\0');
  int64_t got = 0;
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    while (got < length) {
      const ssize_t n = ::pread(fd, bytes.data() + got, static_cast<size_t>(length - got), offset + got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += n;
    }
    ::close(fd);
  }
  if (short_by != nullptr) *short_by = length - got;
  return bytes;
}

}  // namespace runyard::runtime
