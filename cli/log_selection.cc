#include "cli/log_selection.h"

#include "absl/strings/str_cat.h"
#include "common/distributed_config.h"

namespace runyard::cli {
namespace {

absl::Status Refuse(const std::string& what) { return absl::InvalidArgumentError(what); }

// "0..3", or "0" for a single one.
std::string Range(int count) { return count == 1 ? "0" : absl::StrCat("0..", count - 1); }

absl::StatusOr<LogSource> RankLog(const runyard::v1::Run& run, int rank) {
  const runyard::v1::RunSpec& spec = run.spec();
  const int world = common::WorldSize(spec);
  if (!common::IsDistributed(spec)) {
    if (rank == 0) return LogSource{DefaultLogPath(spec), ""};
    return Refuse(absl::StrCat("run ", run.run_id(), " is not distributed: its only rank is 0 (runyard logs ",
                               run.run_id(), ")"));
  }
  if (rank >= world) {
    return Refuse(absl::StrCat("run ", run.run_id(), " has ranks ", Range(world), " (", world,
                               " processes): there is no rank ", rank));
  }
  // MPI: every rank's output is also in its own log (runtime/mpi_rank.h).
  if (common::LaunchesPerProcess(spec) || common::DistributedKind(spec) == "mpi") {
    return LogSource{common::RankLogPath(rank), ""};
  }
  if (rank == 0) return LogSource{DefaultLogPath(spec), ""};
  // One process per node (a launcher) starts the ranks: their output is its.
  return Refuse(absl::StrCat("run ", run.run_id(), " starts one process per node (",
                             common::DistributedKind(spec),
                             spec.command().empty() ? "" : " command",
                             "), which starts the ranks: their output is in the node logs, "
                             "--node K (",
                             Range(common::NodeCount(spec)), ") or --all"));
}

absl::StatusOr<LogSource> NodeLog(const runyard::v1::Run& run, int node) {
  const int nodes = common::NodeCount(run.spec());
  if (node >= nodes) {
    if (nodes == 1) {
      return Refuse(absl::StrCat("run ", run.run_id(), " runs on one node: its only node is 0"));
    }
    return Refuse(absl::StrCat("run ", run.run_id(), " has nodes ", Range(nodes), ": there is no node ", node));
  }
  return LogSource{common::NodeLogPath(node), ""};
}

std::vector<LogSource> EveryLog(const runyard::v1::RunSpec& spec) {
  std::vector<LogSource> sources;
  if (!common::IsDistributed(spec)) return {LogSource{DefaultLogPath(spec), "rank 0"}};
  if (common::LaunchesPerProcess(spec)) {
    for (int rank = 0; rank < common::WorldSize(spec); ++rank) {
      sources.push_back({common::RankLogPath(rank), absl::StrCat("rank ", rank)});
    }
    return sources;
  }
  for (int node = 0; node < common::NodeCount(spec); ++node) {
    sources.push_back({common::NodeLogPath(node), absl::StrCat("node ", node)});
  }
  return sources;
}

}  // namespace

std::string DefaultLogPath(const runyard::v1::RunSpec& spec) {
  return common::LaunchesPerProcess(spec) ? common::RankLogPath(0) : common::NodeLogPath(0);
}

absl::StatusOr<std::vector<LogSource>> SelectLogs(const runyard::v1::Run& run, const LogChoice& choice) {
  const int picked = (choice.rank >= 0) + (choice.node >= 0) + (choice.all ? 1 : 0);
  if (picked > 1) return Refuse("give one of --rank, --node and --all");
  if (choice.all) return EveryLog(run.spec());
  if (choice.rank >= 0) {
    absl::StatusOr<LogSource> source = RankLog(run, choice.rank);
    if (!source.ok()) return source.status();
    return std::vector<LogSource>{*source};
  }
  if (choice.node >= 0) {
    absl::StatusOr<LogSource> source = NodeLog(run, choice.node);
    if (!source.ok()) return source.status();
    return std::vector<LogSource>{*source};
  }
  return std::vector<LogSource>{{DefaultLogPath(run.spec()), ""}};
}

std::string LinePrefixer::Add(std::string_view bytes) {
  partial_.append(bytes);
  const size_t last_newline = partial_.rfind('\n');
  if (last_newline == std::string::npos) return "";
  std::string lines = PrefixLines(std::string_view(partial_).substr(0, last_newline + 1), prefix_);
  partial_.erase(0, last_newline + 1);
  return lines;
}

std::string LinePrefixer::Flush() {
  std::string rest = PrefixLines(partial_, prefix_);
  partial_.clear();
  return rest;
}

std::string PrefixLines(std::string_view text, const std::string& prefix) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    out.append(prefix).append(text.substr(start, end - start)).append("\n");
    start = end + 1;
  }
  return out;
}

}  // namespace runyard::cli
