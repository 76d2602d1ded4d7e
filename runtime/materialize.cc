#include "runtime/materialize.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"

namespace runyard::runtime {
namespace fs = std::filesystem;
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::Status Refuse(const std::string& entry, const std::string& why) {
  return absl::FailedPreconditionError(absl::StrCat("snapshot entry '", entry, "': ", why));
}

// Creates every folder of `path` below dest_fd (the manifest was checked: no '..').
absl::Status MakeFolders(int dest_fd, const std::string& path, bool including_last,
                         std::set<std::string>* made) {
  for (size_t slash = path.find('/');; slash = path.find('/', slash + 1)) {
    if (slash == std::string::npos && !including_last) break;
    const std::string folder = slash == std::string::npos ? path : path.substr(0, slash);
    if (!made->contains(folder)) {
      if (::mkdirat(dest_fd, folder.c_str(), 0755) != 0 && errno != EEXIST) {
        return Refuse(path, std::string("cannot create folder: ") + strerror(errno));
      }
      ::fchmodat(dest_fd, folder.c_str(), 0755, 0);  // 0755 whatever the umask
      made->insert(folder);
    }
    if (slash == std::string::npos) break;
  }
  return absl::OkStatus();
}

// Copies `size` bytes from in to out: reflink, else copy_file_range, else read/write.
absl::StatusOr<bool> CopyContent(int in, int out, int64_t size) {
  if (::ioctl(out, FICLONE, in) == 0) return true;
  int64_t copied = 0;
  while (copied < size) {
    const ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, static_cast<size_t>(size - copied), 0);
    if (n > 0) {
      copied += n;
      continue;
    }
    if (n == 0) break;
    if (errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP && errno != EINVAL) {
      return absl::InternalError(std::string("copy failed: ") + strerror(errno));
    }
    // Fallback for file systems without copy_file_range.
    char buffer[1 << 16];
    ssize_t got;
    while ((got = ::pread(in, buffer, sizeof buffer, copied)) > 0) {
      if (::write(out, buffer, static_cast<size_t>(got)) != got) {
        return absl::InternalError(std::string("write failed: ") + strerror(errno));
      }
      copied += got;
    }
    break;
  }
  if (copied != size) return absl::DataLossError("copied size differs");
  return false;
}

absl::StatusOr<MaterializeStats> WriteTree(const runyard::v1::SnapshotManifest& manifest,
                                           const common::CasDirectory& blobs, const fs::path& dest, bool link) {
  Fd dest_fd(::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dest_fd.get() < 0) return absl::InternalError("cannot open " + dest.string());
  MaterializeStats stats;
  std::set<std::string> made;
  for (const auto& entry : manifest.entries()) {
    const std::string& path = entry.path();
    if (absl::Status ok = MakeFolders(dest_fd.get(), path, entry.directory(), &made); !ok.ok()) return ok;
    if (entry.directory()) continue;

    const fs::path blob = blobs.PathOf(entry.digest());
    Fd in(::open(blob.c_str(), O_RDONLY | O_CLOEXEC));
    if (in.get() < 0) return Refuse(path, "its blob " + entry.digest() + " is not in the cache");
    struct stat st {};
    if (::fstat(in.get(), &st) != 0 || st.st_size != entry.size()) {
      return Refuse(path, absl::StrCat("its blob has ", st.st_size, " bytes, the manifest says ", entry.size()));
    }
    if (link && (st.st_mode & 07777) == entry.mode()) {
      if (::linkat(AT_FDCWD, blob.c_str(), dest_fd.get(), path.c_str(), 0) != 0) {
        return Refuse(path, std::string("cannot link: ") + strerror(errno));
      }
      stats.files++;
      stats.bytes += entry.size();
      stats.linked++;
      continue;
    }
    Fd out(::openat(dest_fd.get(), path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    static_cast<mode_t>(entry.mode())));
    if (out.get() < 0) return Refuse(path, std::string("cannot create: ") + strerror(errno));
    absl::StatusOr<bool> reflinked = CopyContent(in.get(), out.get(), entry.size());
    if (!reflinked.ok()) return Refuse(path, std::string(reflinked.status().message()));
    ::fchmod(out.get(), static_cast<mode_t>(entry.mode()));  // regardless of umask
    stats.files++;
    stats.bytes += entry.size();
    if (*reflinked) stats.reflinked++;
  }
  return stats;
}

}  // namespace

absl::StatusOr<MaterializeStats> Materialize(const runyard::v1::SnapshotManifest& manifest,
                                             const common::CasDirectory& blobs, const fs::path& dest) {
  return WriteTree(manifest, blobs, dest, /*link=*/false);
}

absl::StatusOr<MaterializeStats> LinkTree(const runyard::v1::SnapshotManifest& manifest,
                                          const common::CasDirectory& blobs, const fs::path& dest) {
  return WriteTree(manifest, blobs, dest, /*link=*/true);
}

}  // namespace runyard::runtime
