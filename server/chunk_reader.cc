#include "server/chunk_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace runyard::server {

absl::StatusOr<ChunkReader> ChunkReader::Open(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR)
      return absl::NotFoundError(absl::StrCat("no file ", path.string()));
    return absl::InternalError(
        absl::StrCat("cannot open ", path.string(), ": ", std::strerror(errno)));
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    return absl::NotFoundError(absl::StrCat(path.string(), " is not a readable file"));
  }
  return ChunkReader(fd, static_cast<int64_t>(info.st_size));
}

ChunkReader::~ChunkReader() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status ChunkReader::ReadAt(int64_t offset, std::string* out) const {
  const int64_t want = std::clamp<int64_t>(size_ - offset, 0, kStreamChunkBytes);
  out->resize(static_cast<size_t>(want));
  size_t got = 0;
  while (got < out->size()) {
    const ssize_t n =
        ::pread(fd_, out->data() + got, out->size() - got, offset + static_cast<int64_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(absl::StrCat("cannot read: ", std::strerror(errno)));
    if (n == 0) break;  // truncated since it was opened
    got += static_cast<size_t>(n);
  }
  out->resize(got);
  return absl::OkStatus();
}

}  // namespace runyard::server
