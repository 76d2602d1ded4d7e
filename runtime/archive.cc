#include "runtime/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/relative_path.h"

namespace runyard::runtime {
namespace fs = std::filesystem;
namespace {

using ArchivePtr = std::unique_ptr<struct archive, int (*)(struct archive*)>;
using EntryPtr = std::unique_ptr<struct archive_entry, void (*)(struct archive_entry*)>;

absl::Status ArchiveError(struct archive* a, const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", archive_error_string(a) ? archive_error_string(a) : "unknown error"));
}

// Relative paths of everything to pack, sorted so the archive is reproducible.
std::vector<fs::path> ListTree(const fs::path& source) {
  std::vector<fs::path> entries;
  for (auto it = fs::recursive_directory_iterator(source); it != fs::recursive_directory_iterator(); ++it) {
    const fs::path relative = it->path().lexically_relative(source);
    if (relative.begin()->string() == ".git") {
      it.disable_recursion_pending();
      continue;
    }
    const auto status = it->symlink_status();
    if (fs::is_directory(status) || fs::is_regular_file(status)) entries.push_back(relative);
  }
  std::sort(entries.begin(), entries.end());
  return entries;
}

}  // namespace

absl::StatusOr<PackStats> PackDirectory(const fs::path& source, const fs::path& archive_path) {
  if (!fs::is_directory(source)) {
    return absl::NotFoundError(absl::StrCat("source directory ", source.string(), " does not exist"));
  }
  ArchivePtr writer(archive_write_new(), archive_write_free);
  archive_write_set_format_pax_restricted(writer.get());
  archive_write_add_filter_gzip(writer.get());
  archive_write_set_filter_option(writer.get(), "gzip", "timestamp", nullptr);  // no mtime in header
  if (archive_write_open_filename(writer.get(), archive_path.c_str()) != ARCHIVE_OK) {
    return ArchiveError(writer.get(), "cannot create " + archive_path.string());
  }
  PackStats stats;
  std::vector<char> buffer(1 << 16);
  for (const fs::path& relative : ListTree(source)) {
    const fs::path full = source / relative;
    struct stat st {};
    if (::lstat(full.c_str(), &st) != 0) continue;  // vanished while packing
    EntryPtr entry(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(entry.get(), relative.c_str());
    const bool is_dir = S_ISDIR(st.st_mode);
    archive_entry_set_filetype(entry.get(), is_dir ? AE_IFDIR : AE_IFREG);
    // Keep only the executable bit: owners and odd bits mean nothing on the node.
    archive_entry_set_perm(entry.get(), (is_dir || (st.st_mode & S_IXUSR)) ? 0755 : 0644);
    archive_entry_set_size(entry.get(), is_dir ? 0 : st.st_size);
    if (archive_write_header(writer.get(), entry.get()) != ARCHIVE_OK) {
      return ArchiveError(writer.get(), "cannot add " + relative.string());
    }
    if (is_dir) continue;
    std::ifstream in(full, std::ios::binary);
    int64_t written = 0;
    while (in && written < st.st_size) {
      in.read(buffer.data(), static_cast<std::streamsize>(
                                 std::min<int64_t>(static_cast<int64_t>(buffer.size()), st.st_size - written)));
      if (in.gcount() <= 0) break;
      archive_write_data(writer.get(), buffer.data(), static_cast<size_t>(in.gcount()));
      written += in.gcount();
    }
    if (written != st.st_size) {
      return absl::AbortedError(absl::StrCat(relative.string(), " changed size while it was packed"));
    }
    stats.files++;
    stats.bytes += written;
  }
  if (archive_write_close(writer.get()) != ARCHIVE_OK) {
    return ArchiveError(writer.get(), "cannot finish " + archive_path.string());
  }
  return stats;
}

namespace {

absl::Status Refuse(const std::string& entry, const std::string& why) {
  return absl::FailedPreconditionError(absl::StrCat("snapshot entry '", entry, "' refused: ", why));
}

// Writes one regular file below `dest`, never following a link and never replacing.
absl::Status WriteEntry(struct archive* reader, int dest_fd, const std::string& name,
                        mode_t mode, int64_t max_bytes, int64_t* total_bytes,
                        int64_t max_total_bytes) {
  int fd = ::openat(dest_fd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) return Refuse(name, "duplicate path");
    return Refuse(name, std::string("cannot create: ") + strerror(errno));
  }
  int64_t written = 0;
  const void* block = nullptr;
  size_t size = 0;
  la_int64_t offset = 0;
  absl::Status result;
  while (true) {
    int r = archive_read_data_block(reader, &block, &size, &offset);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK) {
      result = Refuse(name, std::string("corrupt data: ") + (archive_error_string(reader) ?: "?"));
      break;
    }
    // The offset comes from the archive (sparse entries): bound where we write, not only
    // how much, or a tiny entry could make a huge file.
    if (offset < 0 || offset > max_bytes - static_cast<int64_t>(size)) {
      result = Refuse(name, "larger than the per-file limit");
      break;
    }
    written += static_cast<int64_t>(size);
    *total_bytes += static_cast<int64_t>(size);
    if (written > max_bytes) { result = Refuse(name, "larger than the per-file limit"); break; }
    if (*total_bytes > max_total_bytes) { result = Refuse(name, "snapshot unpacks to more than the limit"); break; }
    if (::pwrite(fd, block, size, offset) != static_cast<ssize_t>(size)) {
      result = absl::InternalError(absl::StrCat("cannot write ", name, ": ", strerror(errno)));
      break;
    }
  }
  ::close(fd);
  return result;
}

}  // namespace

absl::Status ExtractArchive(const fs::path& archive_path, const fs::path& dest,
                            const ExtractLimits& limits) {
  ArchivePtr reader(archive_read_new(), archive_read_free);
  archive_read_support_filter_gzip(reader.get());
  archive_read_support_format_tar(reader.get());
  if (archive_read_open_filename(reader.get(), archive_path.c_str(), 1 << 16) != ARCHIVE_OK) {
    return absl::FailedPreconditionError(absl::StrCat(
        "snapshot is not a readable tar.gz: ", archive_error_string(reader.get()) ?: "?"));
  }
  int dest_fd = ::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dest_fd < 0) return absl::InternalError("cannot open " + dest.string());
  auto close_dest = std::unique_ptr<int, void (*)(int*)>(&dest_fd, [](int* fd) { ::close(*fd); });

  int64_t entries = 0;
  int64_t total_bytes = 0;
  struct archive_entry* entry = nullptr;
  while (true) {
    int r = archive_read_next_header(reader.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "snapshot is corrupt: ", archive_error_string(reader.get()) ?: "?"));
    }
    const char* raw_name = archive_entry_pathname(entry);
    std::string name = raw_name ? raw_name : "";
    while (absl::StartsWith(name, "./")) name.erase(0, 2);
    if (name.empty() || name == ".") continue;  // the root itself
    if (!name.empty() && name.back() == '/') name.pop_back();
    if (++entries > limits.max_entries) return Refuse(name, "too many entries in snapshot");
    if (absl::Status ok = common::CheckRelativePath(name); !ok.ok()) {
      return Refuse(name, std::string(ok.message()));
    }
    const mode_t mode = archive_entry_mode(entry);
    if (mode & (S_ISUID | S_ISGID)) return Refuse(name, "setuid/setgid bit");
    if (archive_entry_hardlink(entry) != nullptr) return Refuse(name, "hard links are not allowed");
    const auto type = archive_entry_filetype(entry);
    if (type == AE_IFDIR) {
      if (::mkdirat(dest_fd, name.c_str(), 0755) != 0 && errno != EEXIST) {
        return Refuse(name, std::string("cannot create folder: ") + strerror(errno));
      }
      continue;
    }
    if (type != AE_IFREG) return Refuse(name, "only regular files and folders are allowed");
    if (archive_entry_size(entry) > limits.max_entry_bytes) return Refuse(name, "larger than the per-file limit");
    if (archive_entry_sparse_count(entry) > 0) return Refuse(name, "sparse files are not allowed");
    // Parent folders may be implied rather than listed.
    const fs::path parent = fs::path(name).parent_path();
    if (!parent.empty()) {
      fs::path partial;
      for (const auto& part : parent) {
        partial /= part;
        if (::mkdirat(dest_fd, partial.c_str(), 0755) != 0 && errno != EEXIST) {
          return Refuse(name, std::string("cannot create folder: ") + strerror(errno));
        }
      }
    }
    absl::Status written = WriteEntry(reader.get(), dest_fd, name, (mode & 0100) ? 0755 : 0644,
                                      limits.max_entry_bytes, &total_bytes, limits.max_total_bytes);
    if (!written.ok()) return written;
  }
  return absl::OkStatus();
}

}  // namespace runyard::runtime
