#include "runtime/file_sync.h"

#include <fstream>

namespace runyard::runtime {
namespace fs = std::filesystem;

namespace {
constexpr int64_t kChunkBytes = 1 << 20;
}

DirectorySync::DirectorySync(std::vector<std::pair<fs::path, std::string>> roots,
                             RunObserver* observer, bool resend_whole)
    : roots_(std::move(roots)), observer_(observer), resend_whole_(resend_whole) {}

void DirectorySync::Scan(bool final_scan) {
  for (const auto& [root, prefix] : roots_) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) continue;
    for (auto it = fs::recursive_directory_iterator(root, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      // Symlinks are not followed: a run must not upload what lies outside its folder.
      if (!fs::is_regular_file(it->symlink_status(ec))) continue;
      const std::string relative = it->path().lexically_relative(root).generic_string();
      SyncFile(it->path(), prefix + "/" + relative, final_scan);
    }
  }
}

void DirectorySync::SyncFile(const fs::path& file, const std::string& history_path,
                             bool final_scan) {
  std::error_code ec;
  const int64_t size = static_cast<int64_t>(fs::file_size(file, ec));
  if (ec) return;  // vanished
  const auto mtime = fs::last_write_time(file, ec);
  if (ec) return;
  auto [it, is_new] = sent_.try_emplace(history_path);
  Sent& sent = it->second;
  // Unchanged by size and time; the final scan still checks the digest (a rewrite of the
  // same size within the clock's granularity, or one a live scan saw, looks the same).
  if (!is_new && !final_scan && sent.size == size && sent.mtime == mtime) return;

  bool rewritten = size < sent.size || (is_new && resend_whole_);
  if (!rewritten && final_scan && sent.size > 0) {
    absl::StatusOr<std::string> prefix = common::Sha256FilePrefix(file, sent.size);
    rewritten = !prefix.ok() || *prefix != sent.digest->HexSoFar();
  }
  if (rewritten) {
    sent = Sent{};
    SendRange(file, history_path, sent, 0, size, /*truncate=*/true);
  } else if (is_new && size == 0) {
    SendRange(file, history_path, sent, 0, 0, /*truncate=*/true);  // an empty file exists too
  } else {
    SendRange(file, history_path, sent, sent.size, size, /*truncate=*/false);
  }
  sent.mtime = mtime;
}

void DirectorySync::SendRange(const fs::path& file, const std::string& history_path, Sent& sent,
                              int64_t from, int64_t to, bool truncate) {
  if (truncate && from == to) {
    observer_->OnFileBytes(history_path, 0, {}, true);
    return;
  }
  std::ifstream in(file, std::ios::binary);
  in.seekg(from);
  std::string buffer;
  int64_t offset = from;
  while (offset < to && in) {
    buffer.resize(static_cast<size_t>(std::min(kChunkBytes, to - offset)));
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto got = in.gcount();
    if (got <= 0) break;
    buffer.resize(static_cast<size_t>(got));
    observer_->OnFileBytes(history_path, offset, buffer, truncate && offset == 0);
    sent.digest->Update(buffer);
    offset += got;
  }
  sent.size = offset;
}

}  // namespace runyard::runtime
