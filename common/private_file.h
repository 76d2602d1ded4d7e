#pragma once

// Files only their owner may read (tokens, credentials): written whole or not at all.

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "absl/status/status.h"

namespace runyard::common {

// Creates `dir` (and what lies above it) and makes it 0700: the folder is this program's
// own, so one that exists with looser bits is tightened.
inline absl::Status MakePrivateDirectory(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::PermissionDeniedError("cannot create " + dir.string() + ": " + ec.message());
  if (::chmod(dir.c_str(), 0700) != 0) {
    return absl::PermissionDeniedError("cannot make " + dir.string() + " private (0700): " +
                                       std::strerror(errno));
  }
  return absl::OkStatus();
}

// Writes `bytes` to `file` with mode 0600 through a temporary file next to it, so a reader
// (or a crash) never sees half a file. `overwrite` false: an existing `file` is left alone
// and the result is AlreadyExists naming it.
inline absl::Status WritePrivateFile(const std::filesystem::path& file, std::string_view bytes,
                                     bool overwrite = true) {
  const std::filesystem::path dir = file.has_parent_path() ? file.parent_path() : ".";
  std::string temp = (dir / ("." + file.filename().string() + ".XXXXXX")).string();
  const int fd = ::mkostemp(temp.data(), O_CLOEXEC);  // mode 0600 whatever the umask
  if (fd < 0) return absl::PermissionDeniedError("cannot write in " + dir.string() + ": " + std::strerror(errno));
  auto fail = [&](const std::string& what) {
    const std::string reason = std::strerror(errno);
    ::close(fd);
    ::unlink(temp.c_str());
    return absl::PermissionDeniedError("cannot write " + file.string() + ": " + what + ": " + reason);
  };
  for (size_t written = 0; written < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("write");
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("fsync");
  if (::close(fd) != 0) {
    ::unlink(temp.c_str());
    return absl::PermissionDeniedError("cannot write " + file.string() + ": " + std::strerror(errno));
  }
  // link() never replaces a file, rename() always does: each is one atomic step.
  const int placed = overwrite ? ::rename(temp.c_str(), file.c_str()) : ::link(temp.c_str(), file.c_str());
  const int error = errno;
  if (!overwrite || placed != 0) ::unlink(temp.c_str());
  if (placed != 0 && error == EEXIST) {
    return absl::AlreadyExistsError(file.string() + " exists: remove it first (a token file is never replaced)");
  }
  if (placed != 0) return absl::PermissionDeniedError("cannot write " + file.string() + ": " + std::strerror(error));
  return absl::OkStatus();
}

// Whether users other than the owner may read `file` (group or other bits set).
inline bool ReadableByOthers(const std::filesystem::path& file) {
  struct stat info {};
  return ::stat(file.c_str(), &info) == 0 && (info.st_mode & 077) != 0;
}

}  // namespace runyard::common
