// ControlPlane::ListAgents: what `runyard agents` shows, and the rules that turn what the
// store knows about an agent into its state (AgentState in services.proto).

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "server/control_plane.h"

namespace runyard::server {
namespace {

struct Observed {
  int64_t silent_ms = 0;   // since its last poll; 0 while a poll of it waits
  bool restarted = false;  // same name and pool registered again after its last poll
  size_t active_runs = 0;
};

runyard::v1::AgentState StateOf(const AgentRecord& agent, const Observed& seen,
                                std::chrono::milliseconds lost_after) {
  if (seen.silent_ms > lost_after.count()) {
    return agent.draining || seen.restarted ? runyard::v1::AGENT_STATE_OFFLINE
                                            : runyard::v1::AGENT_STATE_LOST;
  }
  if (agent.draining) return runyard::v1::AGENT_STATE_DRAINING;
  return seen.active_runs > 0 ? runyard::v1::AGENT_STATE_BUSY : runyard::v1::AGENT_STATE_IDLE;
}

}  // namespace

absl::StatusOr<std::vector<runyard::v1::AgentInfo>> ControlPlane::ListAgents(
    const std::string& pool, bool include_offline) {
  // Under the plane's lock, so a poll cannot end between reading who waits and the store.
  std::lock_guard lock(mutex_);
  absl::StatusOr<std::vector<AgentRecord>> agents = store_->ListAgents(pool);
  if (!agents.ok()) return agents.status();
  absl::StatusOr<std::vector<LeaseRecord>> leases = store_->ActiveLeases();
  if (!leases.ok()) return leases.status();

  absl::StatusOr<std::vector<GangNodeRecord>> nodes = store_->ActiveGangNodes();
  if (!nodes.ok()) return nodes.status();

  std::map<std::string, std::vector<std::string>> runs_by_agent;
  for (const LeaseRecord& lease : *leases) runs_by_agent[lease.agent_id].push_back(lease.run_id);
  // Every node of a distributed run holds it (the run's own lease names node 0's agent).
  for (const GangNodeRecord& node : *nodes) {
    runs_by_agent[node.node.agent_id()].push_back(node.run_id);
  }
  for (auto& [agent_id, runs] : runs_by_agent) {
    std::sort(runs.begin(), runs.end());
    runs.erase(std::unique(runs.begin(), runs.end()), runs.end());
  }
  std::set<std::string> polling;
  for (const auto& [pool_name, waiters] : waiters_by_pool_) {
    for (const Waiter* waiter : waiters) polling.insert(waiter->agent_id);
  }
  std::map<std::pair<std::string, std::string>, const AgentRecord*> newest;  // by (pool, name)
  for (const AgentRecord& agent : *agents) {
    const AgentRecord*& found = newest[{agent.pool, agent.name}];
    // Registered in the same millisecond: the one heard from last is the newer.
    if (!found || agent.registered_ms > found->registered_ms ||
        (agent.registered_ms == found->registered_ms && agent.last_seen_ms > found->last_seen_ms)) {
      found = &agent;
    }
  }

  const int64_t now = clock_->NowUnixMs();
  std::vector<runyard::v1::AgentInfo> listed;
  for (const AgentRecord& agent : *agents) {
    const int64_t heartbeat = polling.contains(agent.agent_id) ? now : agent.last_seen_ms;
    const std::vector<std::string>& runs = runs_by_agent[agent.agent_id];
    Observed seen;
    seen.silent_ms = std::max<int64_t>(now - heartbeat, 0);
    const AgentRecord* successor = newest[{agent.pool, agent.name}];
    seen.restarted = successor != &agent && successor->registered_ms > agent.last_seen_ms;
    seen.active_runs = runs.size();
    const runyard::v1::AgentState state = StateOf(agent, seen, options_.agent_lost_after);
    if (state == runyard::v1::AGENT_STATE_OFFLINE && !include_offline) continue;

    runyard::v1::AgentInfo& info = listed.emplace_back();
    info.set_agent_id(agent.agent_id);
    info.set_name(agent.name);
    info.set_pool(agent.pool);
    info.set_hostname(agent.hostname);
    info.set_version(agent.version);
    info.set_state(state);
    info.set_slots(agent.slots);
    for (const std::string& run_id : runs) info.add_active_run_ids(run_id);
    *info.mutable_capabilities() = agent.capabilities;
    info.set_registered_unix_ms(agent.registered_ms);
    info.set_last_heartbeat_unix_ms(heartbeat);
    info.set_identity(agent.identity);
  }
  return listed;
}

}  // namespace runyard::server
