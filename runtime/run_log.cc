#include "runtime/run_log.h"

#include <chrono>
#include <ctime>
#include <algorithm>

namespace runyard::runtime {

RunLog::RunLog(const std::filesystem::path& file, std::string history_path, RunObserver* observer,
               int64_t max_bytes)
    : out_(file, std::ios::binary | std::ios::trunc),
      history_path_(std::move(history_path)),
      observer_(observer),
      max_bytes_(max_bytes) {}

void RunLog::Write(std::string_view bytes) {
  if (bytes.empty()) return;
  std::lock_guard lock(mutex_);
  if (max_bytes_ > 0 && offset_ + static_cast<int64_t>(bytes.size()) > max_bytes_) {
    if (dropped_ == 0) {
      const int64_t room = std::max<int64_t>(0, max_bytes_ - offset_);
      WriteLocked(bytes.substr(0, static_cast<size_t>(room)));
      WriteLocked("\n[runyard] log cut here: it reached its limit of " + std::to_string(max_bytes_) +
                  " bytes (agent setting max_log_bytes); the rest of the run's output is dropped, the run goes on\n");
      dropped_ += static_cast<int64_t>(bytes.size()) - room;
      return;
    }
    dropped_ += static_cast<int64_t>(bytes.size());
    return;
  }
  WriteLocked(bytes);
}

void RunLog::WriteLocked(std::string_view bytes) {
  if (bytes.empty()) return;
  out_.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out_.flush();
  observer_->OnFileBytes(history_path_, offset_, bytes, false);
  offset_ += static_cast<int64_t>(bytes.size());
}

void RunLog::Line(std::string_view text) {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                          now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[40];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis));
  Write(std::string(stamp) + std::string(text) + "\n");
}

}  // namespace runyard::runtime
