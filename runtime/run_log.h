#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <string_view>

#include "runtime/observer.h"

namespace runyard::runtime {

// A run log file on the node (user_logs/std_log.txt, system_logs/runtime.txt) whose bytes
// are also reported to the observer at their offset as they are written.
class RunLog {
 public:
  RunLog(const std::filesystem::path& file, std::string history_path, RunObserver* observer);

  void Write(std::string_view bytes);
  // A timestamped line, for system logs.
  void Line(std::string_view text);
  int64_t size() const { return offset_; }

 private:
  std::mutex mutex_;
  std::ofstream out_;
  std::string history_path_;
  RunObserver* observer_;
  int64_t offset_ = 0;
};

}  // namespace runyard::runtime
