#include "cli/download_folder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace runyard::cli {
namespace fs = std::filesystem;
namespace {

absl::Status Errno(const std::string& what, int error) {
  return absl::PermissionDeniedError(absl::StrCat(what, ": ", std::strerror(error)));
}

// Opens (creating it when missing) the folder `name` inside `parent_fd`, refusing a
// symbolic link or anything that is not a folder.
absl::StatusOr<int> OpenSubfolder(int parent_fd, const std::string& name, const std::string& shown) {
  if (::mkdirat(parent_fd, name.c_str(), 0755) != 0 && errno != EEXIST) {
    return Errno(absl::StrCat("cannot create folder ", shown), errno);
  }
  const int fd = ::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) return fd;
  const int error = errno;
  if (error == ELOOP || error == ENOTDIR) {
    return absl::FailedPreconditionError(absl::StrCat(
        "refusing to write below ", shown, ": it is a symbolic link or not a folder (nothing is written outside the "
        "download folder)"));
  }
  return Errno(absl::StrCat("cannot open folder ", shown), error);
}

}  // namespace

PartialFile::PartialFile(int folder_fd, int file_fd, std::string temp_name, std::string final_name,
                         std::string shown_path)
    : folder_fd_(folder_fd),
      file_fd_(file_fd),
      temp_name_(std::move(temp_name)),
      final_name_(std::move(final_name)),
      shown_path_(std::move(shown_path)) {}

PartialFile::~PartialFile() {
  if (file_fd_ >= 0) ::close(file_fd_);
  if (!committed_) ::unlinkat(folder_fd_, temp_name_.c_str(), 0);
  ::close(folder_fd_);
}

absl::Status PartialFile::Write(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(file_fd_, bytes.data(), bytes.size());
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) return Errno(absl::StrCat("cannot write ", shown_path_), errno);
    bytes.remove_prefix(static_cast<size_t>(written));
    size_ += written;
  }
  return absl::OkStatus();
}

absl::Status PartialFile::Restart() {
  if (::ftruncate(file_fd_, 0) != 0 || ::lseek(file_fd_, 0, SEEK_SET) != 0) {
    return Errno(absl::StrCat("cannot rewrite ", shown_path_), errno);
  }
  size_ = 0;
  return absl::OkStatus();
}

absl::Status PartialFile::Commit() {
  const int fd = file_fd_;
  file_fd_ = -1;
  if (::close(fd) != 0) return Errno(absl::StrCat("cannot write ", shown_path_), errno);
  // rename() replaces a symbolic link at the final name, never writes through it.
  if (::renameat(folder_fd_, temp_name_.c_str(), folder_fd_, final_name_.c_str()) != 0) {
    return Errno(absl::StrCat("cannot put ", shown_path_, " in place"), errno);
  }
  committed_ = true;
  return absl::OkStatus();
}

absl::StatusOr<DownloadFolder> DownloadFolder::Open(const fs::path& root) {
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", root.string(), ": ", ec.message()));
  // The root is the user's choice: a symbolic link there is followed on purpose.
  const int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno(absl::StrCat("cannot open ", root.string()), errno);
  return DownloadFolder(root, fd);
}

DownloadFolder::DownloadFolder(DownloadFolder&& other) noexcept : root_(std::move(other.root_)), fd_(other.fd_) {
  other.fd_ = -1;
}

DownloadFolder::~DownloadFolder() {
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<std::unique_ptr<PartialFile>> DownloadFolder::Create(const std::vector<std::string>& parts) {
  const std::string shown = (root_ / absl::StrJoin(parts, "/")).string();
  if (parts.empty()) return absl::InvalidArgumentError("no file name to download to");
  int folder = ::dup(fd_);
  if (folder < 0) return Errno("cannot open the download folder", errno);
  fs::path walked = root_;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    walked /= parts[i];
    absl::StatusOr<int> next = OpenSubfolder(folder, parts[i], walked.string());
    ::close(folder);
    if (!next.ok()) return next.status();
    folder = *next;
  }
  const std::string& name = parts.back();
  // A hidden name beside the final one; one left by a killed download is replaced.
  const std::string temp = absl::StrCat(".", name.substr(0, 200), ".runyard-partial");
  ::unlinkat(folder, temp.c_str(), 0);
  const int file = ::openat(folder, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (file < 0) {
    const int error = errno;
    ::close(folder);
    return Errno(absl::StrCat("cannot write ", shown), error);
  }
  return std::make_unique<PartialFile>(folder, file, temp, name, shown);
}

}  // namespace runyard::cli
