#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status_names.h"
#include "runyard/v1/services.pb.h"

namespace runyard::cli {

// "idle", "busy", "draining", "lost", "offline": one table for the CLI and the server.
using common::AgentStateName;

// "3s ago", "5m ago", "2h ago", "4d ago": how long before `now_unix_ms` that was.
std::string Ago(int64_t then_unix_ms, int64_t now_unix_ms);

// [{agent_id, name, pool, hostname, version, state, slots, active_run_ids,
//   capabilities {cpus, memory_bytes, gpus [{index, name, memory_bytes, uuid}], labels {}},
//   registered, registered_unix_ms, last_heartbeat, last_heartbeat_unix_ms, identity}]
// for `runyard agents --json`: numbers as numbers, times as ISO text and unix ms.
nlohmann::json AgentsToJson(const std::vector<runyard::v1::AgentInfo>& agents);

// NAME / POOL / STATE / CPUS / MEMORY / GPUS / LABELS / ACTIVE RUNS / HEARTBEAT / IDENTITY
// (the credential it presents, and the join token it came from), one agent a line,
// columns as wide as their widest cell.
std::string AgentTable(const std::vector<runyard::v1::AgentInfo>& agents, int64_t now_unix_ms);

}  // namespace runyard::cli
