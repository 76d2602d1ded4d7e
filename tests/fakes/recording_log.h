#pragma once

// The lines one component's logger (common::Logger) writes while a RecordingLog lives, for
// tests that check what was logged. Not thread-safe to create or destroy while that
// logger is in use on another thread.

#include <spdlog/sinks/ringbuffer_sink.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/logging.h"

namespace runyard::fakes {

class RecordingLog {
 public:
  explicit RecordingLog(std::string component)
      : component_(std::move(component)),
        sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256)) {
    common::Logger(component_)->sinks().push_back(sink_);
  }
  ~RecordingLog() { std::erase(common::Logger(component_)->sinks(), sink_); }

  RecordingLog(const RecordingLog&) = delete;
  RecordingLog& operator=(const RecordingLog&) = delete;

  // The lines so far, formatted, oldest first (the last 256).
  std::vector<std::string> lines() const { return sink_->last_formatted(); }

 private:
  const std::string component_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

}  // namespace runyard::fakes
