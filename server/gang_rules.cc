#include "server/gang_rules.h"

#include <algorithm>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/status_names.h"

namespace runyard::server {
namespace {

int64_t EndedOrLast(int64_t ended_unix_ms) {
  return ended_unix_ms > 0 ? ended_unix_ms : std::numeric_limits<int64_t>::max();
}

// The node's earliest failing rank, if it reported one.
std::optional<runyard::v1::RankResult> FirstFailingRank(const runyard::v1::RunNode& node) {
  std::optional<runyard::v1::RankResult> first;
  for (const runyard::v1::RankResult& rank : node.ranks()) {
    if (!RankFailed(rank)) continue;
    if (!first || EndedOrLast(rank.ended_unix_ms()) < EndedOrLast(first->ended_unix_ms())) {
      first = rank;
    }
  }
  return first;
}

}  // namespace

int Progress(runyard::v1::RunStatus status) {
  switch (status) {
    case runyard::v1::QUEUED:
      return 0;
    case runyard::v1::PREPARING:
      return 1;
    case runyard::v1::STARTING:
      return 2;
    case runyard::v1::RUNNING:
    case runyard::v1::NOT_RESPONDING:
    case runyard::v1::CANCEL_REQUESTED:
      return 3;
    case runyard::v1::FINALIZING:
      return 4;
    default:
      return common::IsTerminal(status) ? 5 : 0;
  }
}

bool GangMustStop(runyard::v1::RunStatus run_status, const std::vector<GangNodeRecord>& nodes) {
  if (run_status == runyard::v1::CANCEL_REQUESTED) return true;
  return std::any_of(nodes.begin(), nodes.end(), [](const GangNodeRecord& node) {
    return common::IsTerminal(node.node.status()) && node.node.status() != runyard::v1::COMPLETED;
  });
}

bool RankFailed(const runyard::v1::RankResult& rank) {
  return rank.exited() ? rank.exit_code() != 0 : rank.term_signal() != 0;
}

std::optional<GangFailure> FirstGangFailure(const std::vector<GangNodeRecord>& nodes) {
  std::optional<GangFailure> first;
  int64_t first_at = 0;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].node.status() != runyard::v1::FAILED) continue;
    std::optional<runyard::v1::RankResult> rank = FirstFailingRank(nodes[i].node);
    const int64_t at = rank ? EndedOrLast(rank->ended_unix_ms()) : EndedOrLast(nodes[i].ended_ms);
    if (!first || at < first_at) {
      first = GangFailure{i, rank};
      first_at = at;
    }
  }
  return first;
}

runyard::v1::RunUsage SumUsage(const std::vector<GangNodeRecord>& nodes) {
  runyard::v1::RunUsage sum;
  bool measured = !nodes.empty();
  for (const GangNodeRecord& node : nodes) {
    sum.set_cpu_seconds(sum.cpu_seconds() + node.usage.cpu_seconds());
    sum.set_peak_memory_bytes(sum.peak_memory_bytes() + node.usage.peak_memory_bytes());
    sum.set_peak_pids(sum.peak_pids() + node.usage.peak_pids());
    measured = measured && node.usage.measured();
  }
  sum.set_measured(measured);
  return sum;
}

std::optional<int> FreePortRange(const std::vector<GangNodeRecord>& active, int count, int first,
                                 int last) {
  if (count <= 0) return 0;
  std::vector<std::pair<int, int>> taken;  // [begin, end) of each active attempt
  for (const GangNodeRecord& node : active) {
    if (node.port_count > 0) taken.emplace_back(node.base_port, node.base_port + node.port_count);
  }
  std::sort(taken.begin(), taken.end());
  int base = first;
  for (const auto& [begin, end] : taken) {
    if (base + count <= begin) break;  // fits before this range
    base = std::max(base, end);
  }
  if (static_cast<int64_t>(base) + count - 1 > last) return std::nullopt;
  return base;
}

std::string DescribeNode(const runyard::v1::RunNode& node) {
  const std::string agent = node.agent_name().empty()
                                ? node.agent_id()
                                : absl::StrCat(node.agent_name(), ", id ", node.agent_id());
  return absl::StrCat("node ", node.node_rank(), " (agent ", agent, ", host ",
                      node.hostname().empty() ? "unknown" : node.hostname(), ")");
}

std::vector<runyard::v1::RunNode> NodesFromRanks(
    const google::protobuf::RepeatedPtrField<runyard::v1::RankResult>& ranks,
    runyard::v1::RunStatus status, const runyard::v1::RunError& error) {
  std::map<int, runyard::v1::RunNode> by_rank;
  std::optional<runyard::v1::RankResult> first_failure;
  for (const runyard::v1::RankResult& rank : ranks) {
    runyard::v1::RunNode& node = by_rank[rank.node_rank()];
    node.set_node_rank(rank.node_rank());
    *node.add_ranks() = rank;
    if (RankFailed(rank) && (!first_failure || EndedOrLast(rank.ended_unix_ms()) <
                                                   EndedOrLast(first_failure->ended_unix_ms()))) {
      first_failure = rank;
    }
  }
  std::vector<runyard::v1::RunNode> nodes;
  for (auto& [node_rank, node] : by_rank) {
    std::sort(node.mutable_ranks()->begin(), node.mutable_ranks()->end(),
              [](const auto& a, const auto& b) { return a.rank() < b.rank(); });
    const bool completed = std::all_of(node.ranks().begin(), node.ranks().end(), [](const auto& r) {
      return r.exited() && r.exit_code() == 0;
    });
    node.set_status(completed ? runyard::v1::COMPLETED : status);
    if (!completed && first_failure && first_failure->node_rank() == node_rank) {
      *node.mutable_error() = error;
    }
    nodes.push_back(std::move(node));
  }
  return nodes;
}

}  // namespace runyard::server
