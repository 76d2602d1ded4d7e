#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace runyard::cli {

// "downloading [#######        ]  45% 2.4/5.3 MB  3/7 files  12.0 MB/s"
std::string DownloadProgressLine(int64_t done_bytes, int64_t total_bytes, int64_t done_files, int64_t total_files,
                                 double seconds);

// A progress bar for a download of several files, redrawn in place at most ten times a
// second; nothing is drawn when `draw` is false (output is not a terminal).
class DownloadProgress {
 public:
  DownloadProgress(bool draw, std::FILE* out, int64_t total_bytes, int64_t total_files);

  void AddBytes(int64_t bytes);
  // A file turned out larger or smaller than listed (it changes while its run runs).
  void AdjustTotal(int64_t delta);
  void FileDone();
  // Draws the last state and ends the line.
  void Finish();

  int64_t done_bytes() const { return done_bytes_; }
  int64_t done_files() const { return done_files_; }
  double seconds() const;

 private:
  void Draw(bool force);

  bool draw_;
  std::FILE* out_;
  int64_t total_bytes_;
  int64_t total_files_;
  int64_t done_bytes_ = 0;
  int64_t done_files_ = 0;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace runyard::cli
