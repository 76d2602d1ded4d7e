#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace runyard::common {

// One logger per component ("server", "agent", "runtime", ...), writing to stderr.
std::shared_ptr<spdlog::logger> Logger(const std::string& component);

// "trace".."off"; unknown names keep the current level.
void SetLogLevel(const std::string& level);

}  // namespace runyard::common
