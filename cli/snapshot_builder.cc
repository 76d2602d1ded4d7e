#include "cli/snapshot_builder.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "common/read_file.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/ignore_rules.h"
#include "common/digest.h"
#include "common/ids.h"
#include "common/snapshot_manifest.h"

namespace runyard::cli {
namespace fs = std::filesystem;
namespace {

// Manifest paths are protobuf strings, which must be UTF-8.
bool IsUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    size_t extra;
    if (c < 0x80) {
      extra = 0;
    } else if (c >= 0xc2 && c <= 0xdf) {
      extra = 1;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
    } else if (c >= 0xf0 && c <= 0xf4) {
      extra = 3;
    } else {
      return false;
    }
    if (i + extra >= text.size() && extra > 0) return false;
    for (size_t k = 1; k <= extra; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return false;
    }
    i += extra + 1;
  }
  return true;
}

// "caf\xe9.txt": a name that is not UTF-8, printable.
std::string Printable(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      out += absl::StrFormat("\\x%02x", c);
    }
  }
  return out;
}

int64_t Nanoseconds(const struct timespec& ts) { return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec; }

// Digests remembered between submits of the same folder.
class DigestCache {
 public:
  explicit DigestCache(fs::path file) : file_(std::move(file)) {
    if (file_.empty()) return;
    runyard::v1::DigestCacheFile stored;
    std::ifstream in(file_, std::ios::binary);
    if (in && stored.ParseFromIstream(&in)) {
      for (auto& entry : *stored.mutable_entries()) entries_[entry.path()] = std::move(entry);
    }
  }

  const std::string* Find(const std::string& path, const struct stat& st) const {
    auto it = entries_.find(path);
    if (it == entries_.end()) return nullptr;
    const auto& entry = it->second;
    if (entry.size() != st.st_size || entry.mtime_ns() != Nanoseconds(st.st_mtim) ||
        entry.ctime_ns() != Nanoseconds(st.st_ctim) || entry.inode() != st.st_ino) {
      return nullptr;
    }
    return &entry.digest();
  }

  void Remember(const std::string& path, const struct stat& st, const std::string& digest, int64_t now_ns) {
    // A file changed within the last two seconds may change again within the same
    // timestamp tick (git's "racy" case): do not trust its stat for next time.
    if (now_ns - Nanoseconds(st.st_mtim) < 2'000'000'000LL) return;
    runyard::v1::DigestCacheEntry entry;
    entry.set_path(path);
    entry.set_size(st.st_size);
    entry.set_mtime_ns(Nanoseconds(st.st_mtim));
    entry.set_ctime_ns(Nanoseconds(st.st_ctim));
    entry.set_inode(st.st_ino);
    entry.set_digest(digest);
    fresh_.push_back(std::move(entry));
  }

  void Save() {
    if (file_.empty()) return;
    runyard::v1::DigestCacheFile stored;
    for (auto& entry : fresh_) *stored.add_entries() = std::move(entry);
    std::error_code ec;
    fs::create_directories(file_.parent_path(), ec);
    const fs::path temp = file_.string() + "." + common::RandomHex(4);
    {
      std::ofstream out(temp, std::ios::binary | std::ios::trunc);
      if (!out || !stored.SerializeToOstream(&out)) return;
    }
    fs::rename(temp, file_, ec);
  }

 private:
  fs::path file_;
  std::unordered_map<std::string, runyard::v1::DigestCacheEntry> entries_;
  std::vector<runyard::v1::DigestCacheEntry> fresh_;  // what this submit saw: the next cache
};

class TreeWalker {
 public:
  TreeWalker(fs::path root, DigestCache* cache, BuiltSnapshot* out)
      : root_(std::move(root)), cache_(cache), out_(out) {}

  void Exclude(const std::string& relative) { excluded_.insert(relative); }

  absl::Status Walk(const std::string& relative_dir) {
    const fs::path dir = relative_dir.empty() ? root_ : root_ / relative_dir;
    // .amlignore wins over .gitignore, folder by folder, as in Azure ML.
    for (const char* name : {".amlignore", ".gitignore"}) {
      std::error_code ec;
      if (fs::is_regular_file(dir / name, ec)) {
        rules_.AddFile(relative_dir, common::ReadFileOrEmpty(dir / name));
        break;
      }
    }
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) names.push_back(entry.path().filename().string());
    if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot read folder ", dir.string(), ": ", ec.message()));
    std::sort(names.begin(), names.end());
    bool has_children = false;
    for (const std::string& name : names) {
      const std::string relative = relative_dir.empty() ? name : relative_dir + "/" + name;
      if (!IsUtf8(name)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "'", Printable(relative), "': file names in a snapshot must be UTF-8; rename it or ignore it"));
      }
      struct stat st {};
      if (::lstat((root_ / relative).c_str(), &st) != 0) continue;  // vanished meanwhile
      const bool is_dir = S_ISDIR(st.st_mode);
      if ((is_dir && name == ".git") || excluded_.contains(relative) || rules_.IsIgnored(relative, is_dir)) {
        out_->ignored++;
        continue;
      }
      if (is_dir) {
        has_children = true;
        if (absl::Status s = Walk(relative); !s.ok()) return s;
      } else if (S_ISREG(st.st_mode)) {
        has_children = true;
        if (absl::Status s = AddFile(relative, st); !s.ok()) return s;
      } else {
        out_->skipped_special++;
      }
    }
    if (!has_children && !relative_dir.empty()) {
      auto* entry = out_->manifest.add_entries();  // an empty folder is part of the tree
      entry->set_path(relative_dir);
      entry->set_mode(0755);
      entry->set_directory(true);
    }
    return absl::OkStatus();
  }

 private:
  absl::Status AddFile(const std::string& relative, const struct stat& st) {
    const fs::path full = root_ / relative;
    std::string digest;
    if (const std::string* known = cache_->Find(relative, st)) {
      digest = *known;
    } else {
      absl::StatusOr<std::string> computed = common::Sha256File(full);
      if (!computed.ok()) return computed.status();
      digest = *computed;
      out_->hashed_bytes += st.st_size;
    }
    cache_->Remember(relative, st, digest, now_ns_);
    auto* entry = out_->manifest.add_entries();
    entry->set_path(relative);
    entry->set_mode((st.st_mode & S_IXUSR) ? 0755 : 0644);
    entry->set_size(st.st_size);
    entry->set_digest(digest);
    out_->file_of_digest.emplace(digest, full);
    out_->files++;
    out_->bytes += st.st_size;
    return absl::OkStatus();
  }

  fs::path root_;
  DigestCache* cache_;
  BuiltSnapshot* out_;
  IgnoreRules rules_;
  std::set<std::string> excluded_;
  int64_t now_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
};

}  // namespace

absl::StatusOr<BuiltSnapshot> BuildSnapshot(const fs::path& root, const fs::path& digest_cache_file,
                                            const std::vector<fs::path>& exclude) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return absl::InvalidArgumentError(absl::StrCat("source directory ", root.string(), " is not a directory"));
  }
  BuiltSnapshot snapshot;
  DigestCache cache(digest_cache_file);
  TreeWalker walker(root, &cache, &snapshot);
  for (const auto& path : exclude) {
    std::error_code ignored;
    const fs::path relative = fs::weakly_canonical(path, ignored).lexically_relative(fs::weakly_canonical(root, ignored));
    if (!relative.empty() && *relative.begin() != ".." && relative != ".") walker.Exclude(relative.generic_string());
  }
  if (absl::Status s = walker.Walk(""); !s.ok()) return s;
  // The walk visits names in sorted order per folder, but "a/b" vs "a-b" ordering needs a
  // global sort by full path, which is what a manifest requires.
  std::sort(snapshot.manifest.mutable_entries()->begin(), snapshot.manifest.mutable_entries()->end(),
            [](const auto& a, const auto& b) { return a.path() < b.path(); });
  if (absl::Status ok = common::CheckManifest(snapshot.manifest); !ok.ok()) return ok;
  snapshot.manifest_bytes = common::SerializeManifest(snapshot.manifest);
  snapshot.id = common::Sha256Hex(snapshot.manifest_bytes);
  cache.Save();
  return snapshot;
}

}  // namespace runyard::cli
