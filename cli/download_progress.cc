#include "cli/download_progress.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "common/snapshot_manifest.h"

namespace runyard::cli {

std::string DownloadProgressLine(int64_t done_bytes, int64_t total_bytes, int64_t done_files, int64_t total_files,
                                 double seconds) {
  constexpr int kWidth = 24;
  // An empty download (only empty files) is done when its files are.
  const double fraction = total_bytes > 0 ? static_cast<double>(done_bytes) / static_cast<double>(total_bytes)
                          : total_files > 0 ? static_cast<double>(done_files) / static_cast<double>(total_files)
                                            : 1.0;
  const double clamped = std::clamp(fraction, 0.0, 1.0);
  const int filled = static_cast<int>(clamped * kWidth);
  const std::string bar = std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(kWidth - filled), ' ');
  return absl::StrFormat("downloading [%s] %3d%% %s/%s  %d/%d files  %.1f MB/s", bar,
                         static_cast<int>(clamped * 100), common::HumanBytes(done_bytes),
                         common::HumanBytes(total_bytes), done_files, total_files,
                         seconds > 0 ? static_cast<double>(done_bytes) / 1e6 / seconds : 0.0);
}

DownloadProgress::DownloadProgress(bool draw, std::FILE* out, int64_t total_bytes, int64_t total_files)
    : draw_(draw), out_(out), total_bytes_(total_bytes), total_files_(total_files) {}

void DownloadProgress::AddBytes(int64_t bytes) {
  done_bytes_ += bytes;
  Draw(false);
}

void DownloadProgress::AdjustTotal(int64_t delta) { total_bytes_ += delta; }

void DownloadProgress::FileDone() {
  ++done_files_;
  Draw(false);
}

void DownloadProgress::Finish() {
  Draw(true);
  if (drawn_) std::fprintf(out_, "\n");
  drawn_ = false;
}

double DownloadProgress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void DownloadProgress::Draw(bool force) {
  if (!draw_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  // "\33[K" clears what a longer earlier line left.
  std::fprintf(out_, "\r%s\33[K",
               DownloadProgressLine(done_bytes_, total_bytes_, done_files_, total_files_, seconds()).c_str());
  std::fflush(out_);
  drawn_ = true;
}

}  // namespace runyard::cli
