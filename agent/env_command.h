#pragma once

#include "agent/config.h"

namespace runyard::agent {

// `runyard-agent env list` (list = true) and `runyard-agent env prune [--all]`: the
// node's environment cache, safe to run beside a working agent (locks are shared).
int EnvironmentCommand(const AgentConfig& config, bool list, bool prune_all, bool json);

}  // namespace runyard::agent
