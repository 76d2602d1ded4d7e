#include "runtime/run_log.h"

#include <chrono>
#include <ctime>

namespace runyard::runtime {

RunLog::RunLog(const std::filesystem::path& file, std::string history_path, RunObserver* observer)
    : out_(file, std::ios::binary | std::ios::trunc),
      history_path_(std::move(history_path)),
      observer_(observer) {}

void RunLog::Write(std::string_view bytes) {
  if (bytes.empty()) return;
  std::lock_guard lock(mutex_);
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
