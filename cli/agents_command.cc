// `runyard agents [--pool P] [--all]`: the agents of a runyard-server.
#include <iostream>

#include "cli/agent_listing.h"
#include "cli/command_support.h"
#include "cli/commands.h"
#include "cli/remote_backend.h"
#include "common/clock.h"

namespace runyard::cli {

int AgentsCommand(const GlobalOptions& global, const AgentsOptions& options) {
  if (!HasServer(global)) {
    // Not an error: local runs need no agent, they run inside the CLI.
    std::cerr << "runyard: no agents in local mode (compute_target local runs inside the CLI); "
              << kNameAServer << " to list a runyard-server's agents\n";
    if (global.json) PrintJson(nlohmann::json::array());
    return 0;
  }
  absl::StatusOr<std::unique_ptr<RemoteBackend>> remote = ConnectServer(global);
  if (!remote.ok()) return Fail(remote.status());
  absl::StatusOr<std::vector<runyard::v1::AgentInfo>> agents = (*remote)->ListAgents(options.pool, options.all);
  if (!agents.ok()) return Fail(agents.status());
  if (global.json) {
    PrintJson(AgentsToJson(*agents));
  } else if (agents->empty()) {
    std::cerr << "runyard: no agents registered with " << global.server
              << (options.pool.empty() ? "" : " for pool '" + options.pool + "'") << "\n";
  } else {
    std::cout << AgentTable(*agents, common::NowUnixMs()) << std::flush;
  }
  return 0;
}

}  // namespace runyard::cli
