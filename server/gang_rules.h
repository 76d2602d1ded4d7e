// The rules of distributed runs (issue 16) that need no store: how far a node got, which
// node's failure is the run's, how usage adds up, which ports an attempt gets.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runyard/v1/run.pb.h"
#include "server/store.h"

namespace runyard::server {

// How far a status is on the way to the end, for "the least advanced node": Queued
// (handed out, not started) 0, Preparing 1, Starting 2, Running 3, Finalizing 4; terminal
// statuses 5.
int Progress(runyard::v1::RunStatus status);

// Whether the other nodes must stop: the run is cancel-requested, or a node ended other
// than Completed (failed, canceled by its deadline, lost).
bool GangMustStop(runyard::v1::RunStatus run_status, const std::vector<GangNodeRecord>& nodes);

// Whether a rank ended in a way that fails a run: a non-zero exit, or killed by a signal.
bool RankFailed(const runyard::v1::RankResult& rank);

// The failure a failed gang reports: the failed node whose failure came first (its
// earliest failing rank's ended_unix_ms, else when the node ended) and that rank, if the
// node reported ranks. nullopt when no node failed.
struct GangFailure {
  size_t node_index = 0;
  std::optional<runyard::v1::RankResult> rank;
};
std::optional<GangFailure> FirstGangFailure(const std::vector<GangNodeRecord>& nodes);

// The nodes' usage together: CPU seconds, peak memory and peak processes summed (the
// nodes are separate machines); measured only when every node measured.
runyard::v1::RunUsage SumUsage(const std::vector<GangNodeRecord>& nodes);

// The lowest base port in [first, last] whose `count` ports overlap no range of
// `active` (other attempts' nodes); nullopt when none fits. count 0 needs no port: 0.
std::optional<int> FreePortRange(const std::vector<GangNodeRecord>& active, int count, int first,
                                 int last);

// "node 1 (agent gpu-2, id agent-1a2b3c4d, host h1)": how errors name a node.
std::string DescribeNode(const runyard::v1::RunNode& node);

// A local run's nodes from its ranks (one per node rank, ranks in order), each with the
// status its ranks say: Completed when every rank exited 0, Failed when one failed (with
// `error` on the node of the first failing rank), else the run's `status`.
std::vector<runyard::v1::RunNode> NodesFromRanks(
    const google::protobuf::RepeatedPtrField<runyard::v1::RankResult>& ranks,
    runyard::v1::RunStatus status, const runyard::v1::RunError& error);

}  // namespace runyard::server
