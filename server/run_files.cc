#include "server/run_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/relative_path.h"

namespace runyard::server {
namespace fs = std::filesystem;

absl::StatusOr<fs::path> RunFiles::Locate(const std::string& run_id,
                                          const std::string& path) const {
  if (absl::Status ok = common::CheckRelativePath(run_id);
      !ok.ok() || run_id.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("bad run id '", run_id, "'"));
  }
  if (absl::Status ok = common::CheckRunFilePath(path); !ok.ok()) return ok;
  return root_ / run_id / path;
}

absl::StatusOr<int64_t> RunFiles::Append(const std::string& run_id, const std::string& path,
                                         int64_t offset, std::string_view data, bool truncate) {
  absl::StatusOr<fs::path> file = Locate(run_id, path);
  if (!file.ok()) return file.status();
  if (offset < 0) return absl::InvalidArgumentError("negative offset");
  if (truncate && offset != 0) return absl::InvalidArgumentError("truncate needs offset 0");

  std::lock_guard lock(mutex_);
  // Only an append at offset 0 may create the file: a refused gap writes nothing at all.
  const bool may_create = offset == 0;
  if (may_create) {
    std::error_code ec;
    fs::create_directories(file->parent_path(), ec);
  }
  int fd = ::open(
      file->c_str(),
      O_WRONLY | O_CLOEXEC | O_NOFOLLOW | (may_create ? O_CREAT : 0) | (truncate ? O_TRUNC : 0),
      0644);
  if (fd < 0 && errno == ENOENT && !may_create) {
    return absl::OutOfRangeError(
        absl::StrCat("append to ", path, " at ", offset, " leaves a gap; committed size is 0"));
  }
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open ", path, ": ", strerror(errno)));
  const int64_t committed = static_cast<int64_t>(::lseek(fd, 0, SEEK_END));
  if (offset > committed) {
    ::close(fd);
    return absl::OutOfRangeError(absl::StrCat("append to ", path, " at ", offset,
                                              " leaves a gap; committed size is ", committed));
  }
  // Skip what is already there (a retry), write the rest.
  const int64_t skip = committed - offset;
  int64_t size = committed;
  if (skip < static_cast<int64_t>(data.size())) {
    std::string_view fresh = data.substr(static_cast<size_t>(skip));
    const ssize_t written = ::pwrite(fd, fresh.data(), fresh.size(), committed);
    if (written != static_cast<ssize_t>(fresh.size())) {
      ::ftruncate(fd, committed);  // all or nothing
      ::close(fd);
      return absl::ResourceExhaustedError(absl::StrCat("cannot write ", path, " (disk full?)"));
    }
    size += static_cast<int64_t>(fresh.size());
  }
  ::close(fd);
  if (absl::Status s = store_->SetFileSize(run_id, path, size, clock_->NowUnixMs()); !s.ok())
    return s;
  return size;
}

}  // namespace runyard::server
