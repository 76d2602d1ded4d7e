#pragma once

// A distributed run as `runyard status` and `runyard show` tell it: what it asked for, its
// nodes (agent, host, state) and how each rank ended.

#include <string>

#include <nlohmann/json.hpp>

#include "runyard/v1/run.pb.h"

namespace runyard::cli {

// "pytorch: 4 processes on 2 nodes, gloo", "mpi: 2 processes per node on 1 node",
// "tensorflow: 2 workers + 1 parameter server on 2 nodes"; "" when not distributed.
std::string DistributedText(const runyard::v1::RunSpec& spec);

// How a rank ended: "exit 0", "exit 3", "signal 9 (Killed)", "not started", "running".
std::string RankOutcome(const runyard::v1::RankResult& rank);

// A table of the run's nodes, by node rank, each line starting with `indent`:
//   NODE  STATUS     AGENT              HOST    RANKS
//   0     Completed  node0 (agent-1a2)  host-a  0: exit 0, 1: exit 0
//   1     Failed     node1 (agent-3b4)  host-b  2: exit 0, 3: exit 3
//         UserError: rank 3 (node 1, host host-b) exited with code 3
// "" when the run has no nodes (not distributed, or not handed out yet).
std::string NodesTable(const runyard::v1::Run& run, const std::string& indent);

// [{node_rank, agent_id, agent_name, hostname, address, status, error {code, message} or
// null, ranks [{rank, node_rank, local_rank, started, exited, exit_code, term_signal,
// ended_unix_ms, outcome}]}], by node rank.
nlohmann::json NodesToJson(const runyard::v1::Run& run);

}  // namespace runyard::cli
