#include "cli/run_nodes.h"

#include <string.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/distributed_config.h"
#include "common/status_names.h"

namespace runyard::cli {
namespace {

std::string Plural(int count, const std::string& one, const std::string& many) {
  return absl::StrCat(count, " ", count == 1 ? one : many);
}

std::vector<const runyard::v1::RunNode*> ByNodeRank(const runyard::v1::Run& run) {
  std::vector<const runyard::v1::RunNode*> nodes;
  for (const auto& node : run.nodes()) nodes.push_back(&node);
  std::sort(nodes.begin(), nodes.end(), [](const auto* a, const auto* b) { return a->node_rank() < b->node_rank(); });
  return nodes;
}

std::string AgentText(const runyard::v1::RunNode& node) {
  if (node.agent_name().empty()) return node.agent_id();
  if (node.agent_id().empty() || node.agent_id() == node.agent_name()) return node.agent_name();
  return absl::StrCat(node.agent_name(), " (", node.agent_id(), ")");
}

std::string RanksText(const runyard::v1::RunNode& node) {
  std::vector<const runyard::v1::RankResult*> ranks;
  for (const auto& rank : node.ranks()) ranks.push_back(&rank);
  std::sort(ranks.begin(), ranks.end(), [](const auto* a, const auto* b) { return a->rank() < b->rank(); });
  std::vector<std::string> parts;
  for (const auto* rank : ranks) parts.push_back(absl::StrCat(rank->rank(), ": ", RankOutcome(*rank)));
  return parts.empty() ? "-" : absl::StrJoin(parts, ", ");
}

}  // namespace

std::string DistributedText(const runyard::v1::RunSpec& spec) {
  const auto& config = spec.distributed_job_config();
  const std::string nodes = Plural(common::NodeCount(spec), "node", "nodes");
  if (config.has_pytorch()) {
    const std::string& backend = config.pytorch().communication_backend();
    return absl::StrCat("pytorch: ", Plural(common::WorldSize(spec), "process", "processes"), " on ", nodes,
                        backend.empty() ? "" : ", " + backend,
                        common::LaunchesPerProcess(spec) ? "" : " (one command per node)");
  }
  if (config.has_mpi()) {
    return absl::StrCat("mpi: ", Plural(common::ProcessesPerNode(spec), "process", "processes"), " per node on ",
                        nodes);
  }
  if (config.has_tensorflow()) {
    const int workers = std::max(config.tensorflow().worker_count(), 1);
    const int servers = common::WorldSize(spec) - workers;
    return absl::StrCat("tensorflow: ", Plural(workers, "worker", "workers"), " + ",
                        Plural(servers, "parameter server", "parameter servers"), " on ", nodes);
  }
  return "";
}

std::string RankOutcome(const runyard::v1::RankResult& rank) {
  if (rank.exited()) return absl::StrCat("exit ", rank.exit_code());
  if (rank.term_signal() > 0) return absl::StrCat("signal ", rank.term_signal(), " (", strsignal(rank.term_signal()), ")");
  if (!rank.started()) return "not started";
  return "running";
}

std::string NodesTable(const runyard::v1::Run& run, const std::string& indent) {
  const std::vector<const runyard::v1::RunNode*> nodes = ByNodeRank(run);
  if (nodes.empty()) return "";
  size_t status_width = 6;
  size_t agent_width = 5;
  size_t host_width = 4;
  for (const auto* node : nodes) {
    status_width = std::max(status_width, common::StatusName(node->status()).size());
    agent_width = std::max(agent_width, AgentText(*node).size());
    host_width = std::max(host_width, node->hostname().size());
  }
  auto row = [&](const std::string& rank, const std::string& status, const std::string& agent,
                 const std::string& host, const std::string& ranks) {
    return absl::StrFormat("%s%-5s %-*s %-*s %-*s %s\n", indent, rank, static_cast<int>(status_width), status,
                           static_cast<int>(agent_width), agent, static_cast<int>(host_width), host, ranks);
  };
  std::string text = row("NODE", "STATUS", "AGENT", "HOST", "RANKS");
  for (const auto* node : nodes) {
    absl::StrAppend(&text, row(absl::StrCat(node->node_rank()), common::StatusName(node->status()),
                               AgentText(*node), node->hostname().empty() ? "-" : node->hostname(),
                               RanksText(*node)));
    if (!node->error().code().empty()) {
      absl::StrAppend(&text, indent, "      ", node->error().code(), ": ", node->error().message(), "\n");
    }
  }
  return text;
}

nlohmann::json NodesToJson(const runyard::v1::Run& run) {
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto* node : ByNodeRank(run)) {
    nlohmann::json ranks = nlohmann::json::array();
    for (const auto& rank : node->ranks()) {
      ranks.push_back({{"rank", rank.rank()},
                       {"node_rank", rank.node_rank()},
                       {"local_rank", rank.local_rank()},
                       {"started", rank.started()},
                       {"exited", rank.exited()},
                       {"exit_code", rank.exit_code()},
                       {"term_signal", rank.term_signal()},
                       {"ended_unix_ms", rank.ended_unix_ms()},
                       {"outcome", RankOutcome(rank)}});
    }
    nodes.push_back({{"node_rank", node->node_rank()},
                     {"agent_id", node->agent_id()},
                     {"agent_name", node->agent_name()},
                     {"hostname", node->hostname()},
                     {"address", node->address()},
                     {"status", common::StatusName(node->status())},
                     {"error", node->error().code().empty()
                                   ? nlohmann::json(nullptr)
                                   : nlohmann::json({{"code", node->error().code()},
                                                     {"message", node->error().message()}})},
                     {"ranks", ranks}});
  }
  return nodes;
}

}  // namespace runyard::cli
