#include "common/logging.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace runyard::common {
namespace {

constexpr const char* kTerminalPattern = "%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v";
constexpr const char* kFilePattern = "%Y-%m-%dT%H:%M:%S.%e %l [%n] %v";
constexpr const char* kJournalPattern = "%*%l [%n] %v";  // %*: the syslog priority prefix

// "<3>" for errors .. "<7>" for debug: how journald learns a line's priority.
class SyslogPriorityFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm&, spdlog::memory_buf_t& dest) override {
    static constexpr const char* kPriority[] = {"<7>", "<7>", "<6>", "<4>", "<3>", "<2>", "<6>"};
    const char* priority = kPriority[static_cast<int>(message.level)];
    dest.append(priority, priority + 3);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<SyslogPriorityFlag>(); }
};

std::mutex& Mutex() {
  static std::mutex mutex;
  return mutex;
}

// The sinks every logger writes to; stderr alone until ConfigureLogging.
std::vector<spdlog::sink_ptr>& Sinks() {
  static std::vector<spdlog::sink_ptr> sinks = [] {
    auto stderr_sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    stderr_sink->set_pattern(kTerminalPattern);
    return std::vector<spdlog::sink_ptr>{stderr_sink};
  }();
  return sinks;
}

}  // namespace

std::shared_ptr<spdlog::logger> Logger(const std::string& component) {
  std::lock_guard lock(Mutex());
  if (auto existing = spdlog::get(component)) return existing;
  auto logger = std::make_shared<spdlog::logger>(component, Sinks().begin(), Sinks().end());
  logger->set_level(spdlog::get_level());
  spdlog::register_logger(logger);
  return logger;
}

void SetLogLevel(const std::string& level) {
  auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") return;
  spdlog::set_level(parsed);
}

bool StderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  unsigned long long device = 0, inode = 0;
  if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2) return false;
  struct stat info {};
  return ::fstat(2, &info) == 0 && info.st_dev == device && info.st_ino == inode;
}

void ConfigureLogging(const std::string& level, const std::string& file) {
  {
    std::lock_guard lock(Mutex());
    std::vector<spdlog::sink_ptr>& sinks = Sinks();
    if (StderrIsJournal()) {
      auto formatter = std::make_unique<spdlog::pattern_formatter>();
      formatter->add_flag<SyslogPriorityFlag>('*').set_pattern(kJournalPattern);
      sinks.front()->set_formatter(std::move(formatter));
    }
    if (!file.empty()) {
      try {
        auto file_sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file);
        file_sink->set_pattern(kFilePattern);
        sinks.push_back(file_sink);
      } catch (const spdlog::spdlog_ex& error) {
        std::fprintf(stderr, "cannot open log file %s: %s; logging to stderr only\n", file.c_str(), error.what());
      }
    }
    // Loggers made before this call get the same sinks.
    spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& logger) { logger->sinks() = sinks; });
  }
  SetLogLevel(level);
  spdlog::flush_on(spdlog::level::info);  // a file log is read while the daemon runs
}

}  // namespace runyard::common
