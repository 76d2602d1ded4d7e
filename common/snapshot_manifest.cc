#include "common/snapshot_manifest.h"

#include <algorithm>
#include <map>
#include <unordered_set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/digest.h"
#include "common/relative_path.h"

namespace runyard::common {
namespace {

absl::Status Refuse(std::string_view entry, std::string_view why) {
  return absl::FailedPreconditionError(
      absl::StrCat("snapshot entry '", std::string(entry), "' refused: ", std::string(why)));
}


}  // namespace

absl::Status CheckManifest(const runyard::v1::SnapshotManifest& manifest, const ManifestBounds& bounds) {
  if (manifest.entries_size() > bounds.max_entries) {
    return absl::FailedPreconditionError(absl::StrCat("snapshot refused: ", manifest.entries_size(),
                                                      " entries, more than ", bounds.max_entries));
  }
  int64_t total = 0;
  const std::string* previous = nullptr;
  std::unordered_set<std::string_view> files;
  for (const auto& entry : manifest.entries()) {
    const std::string& path = entry.path();
    if (absl::Status ok = common::CheckRelativePath(path); !ok.ok()) {
      return Refuse(path.find('\0') == std::string::npos ? path : "<name with NUL>", std::string(ok.message()));
    }
    if (path.back() == '/') return Refuse(path, "trailing '/'");
    if (previous != nullptr && !(*previous < path)) {
      return Refuse(path, *previous == path ? "duplicate path" : "entries are not sorted by path");
    }
    // A file may not also be a folder of a later entry ("a" and "a/b").
    for (size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
      const std::string_view folder(path.data(), slash);
      if (files.contains(folder)) return Refuse(path, "'" + std::string(folder) + "' is a file, not a folder");
    }
    if (entry.directory()) {
      if (entry.mode() != 0755 || entry.size() != 0 || !entry.digest().empty()) {
        return Refuse(path, "a folder entry carries a size, digest or mode other than 0755");
      }
    } else {
      if (entry.mode() != 0644 && entry.mode() != 0755) {
        return Refuse(path, absl::StrCat("mode ", absl::StrFormat("%o", entry.mode()),
                                         " (only 0644 and 0755; no setuid, setgid or sticky bits)"));
      }
      if (!common::IsValidDigest(entry.digest())) return Refuse(path, "digest is not a SHA-256");
      if (entry.size() < 0 || entry.size() > bounds.max_entry_bytes) return Refuse(path, "size out of range");
      total += entry.size();
      if (total > bounds.max_total_bytes) return Refuse(path, "snapshot is larger than the node accepts");
    }
    previous = &path;
    if (!entry.directory()) files.insert(path);
  }
  return absl::OkStatus();
}

absl::StatusOr<runyard::v1::SnapshotManifest> ParseManifest(std::string_view bytes, const ManifestBounds& bounds) {
  if (static_cast<int64_t>(bytes.size()) > bounds.max_manifest_bytes) {
    return absl::FailedPreconditionError("snapshot manifest is too large");
  }
  runyard::v1::SnapshotManifest manifest;
  if (!manifest.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::FailedPreconditionError("snapshot manifest is not a valid manifest");
  }
  if (absl::Status ok = CheckManifest(manifest, bounds); !ok.ok()) return ok;
  return manifest;
}

std::string SerializeManifest(const runyard::v1::SnapshotManifest& manifest) {
  std::string bytes;
  manifest.SerializeToString(&bytes);
  return bytes;
}

std::string ManifestId(const runyard::v1::SnapshotManifest& manifest) {
  return common::Sha256Hex(SerializeManifest(manifest));
}

ManifestTotals Totals(const runyard::v1::SnapshotManifest& manifest) {
  ManifestTotals totals;
  for (const auto& entry : manifest.entries()) {
    if (entry.directory()) continue;
    totals.files++;
    totals.bytes += entry.size();
  }
  return totals;
}

std::string HumanBytes(int64_t bytes) {
  if (bytes < 1000) return absl::StrCat(bytes, " B");
  if (bytes < 1000 * 1000) return absl::StrFormat("%.1f KB", static_cast<double>(bytes) / 1e3);
  if (bytes < 1000LL * 1000 * 1000) return absl::StrFormat("%.1f MB", static_cast<double>(bytes) / 1e6);
  return absl::StrFormat("%.2f GB", static_cast<double>(bytes) / 1e9);
}

runyard::v1::SnapshotLimits EffectiveLimits(const runyard::v1::SnapshotLimits& limits,
                                            const runyard::v1::SnapshotLimits& defaults) {
  runyard::v1::SnapshotLimits effective = defaults;
  if (limits.max_bytes() > 0) effective.set_max_bytes(limits.max_bytes());
  if (limits.max_files() > 0) effective.set_max_files(limits.max_files());
  return effective;
}

absl::Status CheckSnapshotLimits(const runyard::v1::SnapshotManifest& manifest,
                                 const runyard::v1::SnapshotLimits& limits) {
  const ManifestTotals totals = Totals(manifest);
  const bool too_big = limits.max_bytes() > 0 && totals.bytes > limits.max_bytes();
  const bool too_many = limits.max_files() > 0 && totals.files > limits.max_files();
  if (!too_big && !too_many) return absl::OkStatus();

  // The largest files, and the largest folders by total size, are what to ignore.
  std::vector<std::pair<int64_t, std::string>> files;
  std::map<std::string, std::pair<int64_t, int64_t>> folders;  // bytes, files
  for (const auto& entry : manifest.entries()) {
    if (entry.directory()) continue;
    files.emplace_back(entry.size(), entry.path());
    for (size_t slash = entry.path().find('/'); slash != std::string::npos;
         slash = entry.path().find('/', slash + 1)) {
      auto& folder = folders[entry.path().substr(0, slash + 1)];
      folder.first += entry.size();
      folder.second += 1;
    }
  }
  std::sort(files.rbegin(), files.rend());
  std::vector<std::pair<std::pair<int64_t, int64_t>, std::string>> by_size;
  for (const auto& [name, stats] : folders) by_size.emplace_back(stats, name);
  std::sort(by_size.rbegin(), by_size.rend());

  std::string message = absl::StrCat("snapshot is ", HumanBytes(totals.bytes), " in ", totals.files,
                                     " files; the limit is ", HumanBytes(limits.max_bytes()), " and ",
                                     limits.max_files(), " files (",
                                     too_big ? "size" : "file count", " exceeded).");
  absl::StrAppend(&message, "\n  largest files:");
  for (size_t i = 0; i < std::min<size_t>(5, files.size()); ++i) {
    absl::StrAppend(&message, "\n    ", HumanBytes(files[i].first), "  ", files[i].second);
  }
  if (!by_size.empty()) {
    absl::StrAppend(&message, "\n  largest folders:");
    for (size_t i = 0; i < std::min<size_t>(5, by_size.size()); ++i) {
      absl::StrAppend(&message, "\n    ", HumanBytes(by_size[i].first.first), " in ", by_size[i].first.second,
                      " files  ", by_size[i].second);
    }
  }
  absl::StrAppend(&message,
                  "\n  Leave them out with .amlignore (or .gitignore), or raise the limit with "
                  "--max-snapshot-mb / --max-snapshot-files.");
  return absl::InvalidArgumentError(message);
}

}  // namespace runyard::common
