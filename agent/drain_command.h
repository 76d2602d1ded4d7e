#pragma once

#include "agent/config.h"

namespace runyard::agent {

// `runyard-agent drain [--wait]`: sends the agent running on config.work_dir the signal
// that drains it (SIGTERM: no new run, exit once its runs end or the drain timeout
// cancels them); with `wait`, returns once it has exited.
int DrainCommand(const AgentConfig& config, bool wait);

}  // namespace runyard::agent
