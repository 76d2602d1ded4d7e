#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace runyard::common {

// One logger per component ("server", "agent", "runtime", ...), writing to stderr (and to
// the log file ConfigureLogging names).
std::shared_ptr<spdlog::logger> Logger(const std::string& component);

// "trace".."off"; unknown names keep the current level.
void SetLogLevel(const std::string& level);

// For the daemons: the level, and where logs go. Under systemd (stderr connected to the
// journal, JOURNAL_STREAM set) lines carry no timestamp of their own — journald adds one —
// and start with a "<N>" syslog priority, so `journalctl -p warning` works. A non-empty
// `file` also gets every line, with timestamps; an unopenable file is reported on stderr
// and skipped (the daemon still starts).
void ConfigureLogging(const std::string& level, const std::string& file);

// Whether stderr goes to the journal (the JOURNAL_STREAM device and inode match fd 2).
bool StderrIsJournal();

}  // namespace runyard::common
