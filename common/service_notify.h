#pragma once

#include <chrono>
#include <string>

namespace runyard::common {

// What a daemon tells systemd (Type=notify units); each call does nothing when the
// process was not started by systemd (no NOTIFY_SOCKET), so the daemons run the same
// anywhere.
void NotifyReady(const std::string& status);
void NotifyStatus(const std::string& status);
void NotifyStopping(const std::string& status);
void NotifyWatchdog();

// The unit's WatchdogSec for this process; zero when no watchdog is armed.
std::chrono::microseconds WatchdogInterval();

}  // namespace runyard::common
