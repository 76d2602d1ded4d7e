#include "cli/snapshot_upload.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "common/read_file.h"
#include "absl/strings/str_format.h"
#include "common/snapshot_manifest.h"

namespace runyard::cli {
namespace {

constexpr int64_t kSmallBlobBytes = 1 << 20;      // smaller files travel in batches
constexpr int64_t kBatchBytes = 3 << 20;          // under gRPC's default 4 MB message
constexpr int64_t kProgressThreshold = 4 << 20;   // no bar for small uploads

// "uploading  42% 84.0/200.0 MB  95.3 MB/s" on one terminal line.
class ProgressBar {
 public:
  ProgressBar(bool enabled, int64_t total) : enabled_(enabled && total >= kProgressThreshold), total_(total) {}
  ~ProgressBar() {
    if (enabled_) std::fprintf(stderr, "\n");
  }
  void Add(int64_t bytes) {
    done_ += bytes;
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_draw_ < std::chrono::milliseconds(100) && done_ < total_) return;
    last_draw_ = now;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    const int percent = static_cast<int>(100 * done_ / std::max<int64_t>(total_, 1));
    std::string bar(30, ' ');
    for (int i = 0; i < percent * 30 / 100; ++i) bar[static_cast<size_t>(i)] = '#';
    std::fprintf(stderr, "\ruploading [%s] %3d%% %s/%s  %.1f MB/s ", bar.c_str(), percent,
                 common::HumanBytes(done_).c_str(), common::HumanBytes(total_).c_str(),
                 seconds > 0 ? static_cast<double>(done_) / 1e6 / seconds : 0.0);
    std::fflush(stderr);
  }

 private:
  bool enabled_;
  int64_t total_;
  int64_t done_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace

absl::StatusOr<UploadReport> UploadSnapshot(const BuiltSnapshot& snapshot, RunBackend& backend, bool progress) {
  UploadReport report;
  report.snapshot_id = snapshot.id;
  report.files = snapshot.files;
  report.bytes = snapshot.bytes;
  report.manifest_bytes = static_cast<int64_t>(snapshot.manifest_bytes.size());
  report.ignored = snapshot.ignored;

  std::vector<std::string> digests;
  digests.reserve(snapshot.file_of_digest.size() + 1);
  digests.push_back(snapshot.id);
  for (const auto& [digest, file] : snapshot.file_of_digest) digests.push_back(digest);
  absl::StatusOr<std::vector<std::string>> missing_list = backend.FindMissingBlobs(digests);
  if (!missing_list.ok()) return missing_list.status();
  const std::set<std::string> missing(missing_list->begin(), missing_list->end());

  // What the store has already is skipped, counted per file.
  std::map<std::string, int64_t> size_of;
  for (const auto& entry : snapshot.manifest.entries()) {
    if (entry.directory()) continue;
    size_of[entry.digest()] = entry.size();
    if (!missing.contains(entry.digest())) {
      report.skipped_files++;
      report.skipped_bytes += entry.size();
    }
  }
  int64_t to_send = 0;
  for (const auto& digest : missing) to_send += digest == snapshot.id ? report.manifest_bytes : size_of[digest];
  ProgressBar bar(progress, to_send);

  std::vector<std::pair<std::string, std::string>> batch;
  int64_t batch_bytes = 0;
  auto flush = [&]() -> absl::Status {
    if (batch.empty()) return absl::OkStatus();
    absl::Status sent = backend.UploadBlobs(batch);
    bar.Add(batch_bytes);
    batch.clear();
    batch_bytes = 0;
    return sent;
  };
  for (const auto& [digest, file] : snapshot.file_of_digest) {
    if (!missing.contains(digest)) continue;
    const int64_t size = size_of[digest];
    report.uploaded_blobs++;
    report.uploaded_bytes += size;
    if (size >= kSmallBlobBytes) {
      if (absl::Status s = backend.UploadFileBlob(digest, file, [&](int64_t n) { bar.Add(n); }); !s.ok()) return s;
      continue;
    }
    absl::StatusOr<std::string> bytes = common::ReadWholeFile(file);
    if (!bytes.ok()) return bytes.status();
    if (static_cast<int64_t>(bytes->size()) != size) {
      return absl::AbortedError(file.string() + " changed while it was submitted; submit again");
    }
    batch.emplace_back(digest, std::move(*bytes));
    batch_bytes += size;
    if (batch_bytes >= kBatchBytes) {
      if (absl::Status s = flush(); !s.ok()) return s;
    }
  }
  if (absl::Status s = flush(); !s.ok()) return s;
  if (missing.contains(snapshot.id)) {
    report.uploaded_blobs++;
    report.uploaded_bytes += report.manifest_bytes;
    if (absl::Status s = backend.UploadBlobs({{snapshot.id, snapshot.manifest_bytes}}); !s.ok()) return s;
    bar.Add(report.manifest_bytes);
  }
  return report;
}

}  // namespace runyard::cli
