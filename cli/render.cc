#include "cli/render.h"

#include <algorithm>
#include <ctime>
#include <functional>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/run_nodes.h"
#include "common/distributed_config.h"
#include "common/snapshot_manifest.h"
#include "common/status_names.h"

namespace runyard::cli {

std::string IsoTime(int64_t unix_ms) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                         utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(unix_ms % 1000));
}

std::string Duration(int64_t ms) {
  if (ms < 10000) return absl::StrFormat("%.3f s", static_cast<double>(ms) / 1000.0);
  if (ms < 60000) return absl::StrFormat("%.1f s", static_cast<double>(ms) / 1000.0);
  if (ms < 3600000) return absl::StrFormat("%d min %d s", ms / 60000, (ms / 1000) % 60);
  return absl::StrFormat("%d h %d min", ms / 3600000, (ms / 60000) % 60);
}

namespace {
int64_t ElapsedMs(const runyard::v1::Run& run) {
  if (run.history_size() == 0) return 0;
  return run.history(run.history_size() - 1).time_unix_ms() - run.history(0).time_unix_ms();
}
}  // namespace

namespace {
std::map<std::string, std::string> Merged(const google::protobuf::Map<std::string, std::string>& spec,
                                          const google::protobuf::Map<std::string, std::string>& run) {
  std::map<std::string, std::string> merged(spec.begin(), spec.end());
  for (const auto& [key, value] : run) merged[key] = value;
  return merged;
}
}  // namespace

std::map<std::string, std::string> RunTags(const runyard::v1::Run& run) {
  // Not merged with the spec's: the store starts the run's tags from them, and a tag
  // removed since (`runyard tag --remove`) must stay gone.
  return {run.tags().begin(), run.tags().end()};
}

std::map<std::string, std::string> RunProperties(const runyard::v1::Run& run) {
  return Merged(run.spec().properties(), run.properties());  // never removed: the union
}

nlohmann::json RunToJson(const runyard::v1::Run& run) {
  nlohmann::json json;
  json["run_id"] = run.run_id();
  json["experiment"] = run.experiment();
  json["target"] = run.target();
  json["status"] = common::StatusName(run.status());
  json["exit_code"] = run.has_exit_code() ? nlohmann::json(run.exit_code()) : nlohmann::json(nullptr);
  if (!run.error().code().empty()) {
    json["error"] = {{"code", run.error().code()},
                     {"message", run.error().message()},
                     {"details", run.error().details()}};
  } else {
    json["error"] = nullptr;
  }
  json["history"] = nlohmann::json::array();
  for (const auto& event : run.history()) {
    json["history"].push_back({{"status", common::StatusName(event.status())},
                               {"time", IsoTime(event.time_unix_ms())},
                               {"time_unix_ms", event.time_unix_ms()}});
  }
  json["created"] = IsoTime(run.created_unix_ms());
  if (run.usage().measured()) {
    json["usage"] = {{"cpu_seconds", run.usage().cpu_seconds()},
                     {"peak_memory_bytes", run.usage().peak_memory_bytes()},
                     {"peak_pids", run.usage().peak_pids()}};
    json["cpu_seconds"] = run.usage().cpu_seconds();
    json["peak_memory_bytes"] = run.usage().peak_memory_bytes();
  } else {
    json["usage"] = nullptr;
  }
  json["agent_id"] = run.agent_id();
  json["submitted_by"] = run.submitted_by();
  json["canceled_by"] = run.canceled_by();
  const auto& spec = run.spec();
  json["spec"] = {{"script", spec.script()},
                  {"command", std::vector<std::string>(spec.command().begin(), spec.command().end())},
                  {"arguments", std::vector<std::string>(spec.arguments().begin(), spec.arguments().end())},
                  {"source_directory", spec.source_directory()},
                  {"max_run_duration_seconds", spec.max_run_duration_seconds()},
                  {"snapshot_id", spec.snapshot_id()}};
  json["display_name"] = spec.display_name();
  json["parent_run_id"] = run.parent_run_id();
  json["tags"] = nlohmann::json::object();
  for (const auto& [key, value] : RunTags(run)) json["tags"][key] = value;
  json["properties"] = nlohmann::json::object();
  for (const auto& [key, value] : RunProperties(run)) json["properties"][key] = value;
  // Distributed runs: what was asked for, the nodes of the current attempt, what it waits for.
  if (common::IsDistributed(spec)) {
    json["distributed"] = {{"kind", common::DistributedKind(spec)},
                           {"node_count", common::NodeCount(spec)},
                           {"world_size", common::WorldSize(spec)},
                           {"processes_per_node", common::ProcessesPerNode(spec)},
                           {"per_process_launch", common::LaunchesPerProcess(spec)}};
  } else {
    json["distributed"] = nullptr;
  }
  json["nodes"] = NodesToJson(run);
  json["status_detail"] = run.status_detail();
  json["attempt"] = run.attempt();
  return json;
}

std::string DescribeRun(const runyard::v1::Run& run) {
  std::string text;
  absl::StrAppend(&text, "Run:         ", run.run_id(), "\n");
  absl::StrAppend(&text, "Experiment:  ", run.experiment(), "\n");
  absl::StrAppend(&text, "Target:      ", run.target(), run.agent_id().empty() ? "" : " (" + run.agent_id() + ")", "\n");
  absl::StrAppend(&text, "Status:      ", common::StatusName(run.status()));
  if (run.has_exit_code()) absl::StrAppend(&text, " (exit code ", run.exit_code(), ")");
  if (!run.status_detail().empty()) absl::StrAppend(&text, " (", run.status_detail(), ")");
  absl::StrAppend(&text, "\n");
  if (!run.error().code().empty()) {
    absl::StrAppend(&text, "Error:       ", run.error().code(), ": ", run.error().message(), "\n");
  }
  if (!run.submitted_by().empty()) absl::StrAppend(&text, "Submitted:   by ", run.submitted_by(), "\n");
  if (!run.canceled_by().empty()) absl::StrAppend(&text, "Canceled:    by ", run.canceled_by(), "\n");
  const std::string what = run.spec().script().empty()
                               ? absl::StrJoin(run.spec().command(), " ")
                               : run.spec().script();
  if (run.usage().measured()) {
    absl::StrAppend(&text, absl::StrFormat("Used:        %.2f CPU seconds, %s peak memory%s\n", run.usage().cpu_seconds(),
                                           common::HumanBytes(run.usage().peak_memory_bytes()),
                                           run.usage().peak_pids() > 0
                                               ? absl::StrCat(", ", run.usage().peak_pids(), " processes at most")
                                               : ""));
  }
  absl::StrAppend(&text, "Runs:        ", what, " ", absl::StrJoin(run.spec().arguments(), " "), "\n");
  if (common::IsDistributed(run.spec())) {
    absl::StrAppend(&text, "Distributed: ", DistributedText(run.spec()),
                    run.attempt() > 1 ? absl::StrCat(" (attempt ", run.attempt(), ")") : "", "\n");
    if (const std::string nodes = NodesTable(run, "  "); !nodes.empty()) {
      absl::StrAppend(&text, "Nodes:\n", nodes);
    }
  }
  if (!run.parent_run_id().empty()) absl::StrAppend(&text, "Parent:      ", run.parent_run_id(), "\n");
  if (const auto tags = RunTags(run); !tags.empty()) {
    absl::StrAppend(&text, "Tags:\n");
    for (const auto& [key, value] : tags) absl::StrAppend(&text, "  ", key, " = ", value, "\n");
  }
  if (const auto sorted = RunProperties(run); !sorted.empty()) {
    absl::StrAppend(&text, "Properties:\n");
    for (const auto& [key, value] : sorted) absl::StrAppend(&text, "  ", key, " = ", value, "\n");
  }
  absl::StrAppend(&text, "Snapshot:    ", run.spec().snapshot_id(), "\n");
  absl::StrAppend(&text, "History:\n");
  const int64_t start = run.history_size() > 0 ? run.history(0).time_unix_ms() : 0;
  for (const auto& event : run.history()) {
    absl::StrAppend(&text, absl::StrFormat("  %-16s %s  (+%s)\n", common::StatusName(event.status()),
                                           IsoTime(event.time_unix_ms()), Duration(event.time_unix_ms() - start)));
  }
  return text;
}

std::string RunTable(const std::vector<runyard::v1::Run>& runs) {
  std::string text = absl::StrFormat("%-14s %-16s %-12s %-16s %-24s %s\n", "RUN", "EXPERIMENT", "TARGET",
                                     "STATUS", "CREATED", "DURATION");
  for (const auto& run : runs) {
    absl::StrAppend(&text, absl::StrFormat("%-14s %-16s %-12s %-16s %-24s %s\n", run.run_id(), run.experiment(),
                                           run.target(), common::StatusName(run.status()),
                                           IsoTime(run.created_unix_ms()), Duration(ElapsedMs(run))));
  }
  return text;
}

}  // namespace runyard::cli

namespace runyard::cli {
namespace {

// Children in the order they were made: by creation, then by the number after '_'
// (run-x_2 before run-x_10).
bool ChildBefore(const runyard::v1::Run* a, const runyard::v1::Run* b) {
  if (a->created_unix_ms() != b->created_unix_ms()) return a->created_unix_ms() < b->created_unix_ms();
  if (a->run_id().size() != b->run_id().size()) return a->run_id().size() < b->run_id().size();
  return a->run_id() < b->run_id();
}

std::string TagsText(const runyard::v1::Run& run) {
  std::vector<std::string> pairs;
  for (const auto& [key, value] : RunTags(run)) pairs.push_back(value.empty() ? key : key + "=" + value);
  return absl::StrJoin(pairs, ",");
}

}  // namespace

std::string RunTreeTable(const std::vector<runyard::v1::Run>& runs) {
  std::map<std::string, const runyard::v1::Run*> by_id;
  for (const auto& run : runs) by_id[run.run_id()] = &run;
  std::map<std::string, std::vector<const runyard::v1::Run*>> children;
  std::vector<const runyard::v1::Run*> roots;
  for (const auto& run : runs) {
    // A child whose parent is not in the listing (filtered out, or past --limit) stands alone.
    if (!run.parent_run_id().empty() && by_id.contains(run.parent_run_id()) &&
        run.parent_run_id() != run.run_id()) {
      children[run.parent_run_id()].push_back(&run);
    } else {
      roots.push_back(&run);
    }
  }
  for (auto& [parent, list] : children) std::sort(list.begin(), list.end(), ChildBefore);

  std::vector<std::pair<const runyard::v1::Run*, int>> ordered;
  std::function<void(const runyard::v1::Run*, int)> add = [&](const runyard::v1::Run* run, int depth) {
    ordered.emplace_back(run, depth);
    if (depth > 64) return;  // a loop in parent links must not hang the listing
    for (const auto* child : children[run->run_id()]) add(child, depth + 1);
  };
  for (const auto* root : roots) add(root, 0);

  size_t id_width = 14;
  bool any_tags = false;
  bool any_distributed = false;
  for (const auto& [run, depth] : ordered) {
    id_width = std::max(id_width, run->run_id().size() + 2 * static_cast<size_t>(depth) + 1);
    any_tags = any_tags || !run->tags().empty();
    any_distributed = any_distributed || common::IsDistributed(run->spec());
  }
  auto row = [&](const std::string& id, const std::string& experiment, const std::string& target,
                 const std::string& status, const std::string& created, const std::string& duration,
                 const std::string& nodes, const std::string& tags) {
    std::string line = absl::StrFormat("%-*s %-16s %-12s %-16s %-24s %-10s", static_cast<int>(id_width), id,
                                       experiment, target, status, created, duration);
    if (any_distributed) absl::StrAppend(&line, absl::StrFormat(" %-5s", nodes));
    if (any_tags) absl::StrAppend(&line, " ", tags);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    return line + "\n";
  };
  std::string text = row("RUN", "EXPERIMENT", "TARGET", "STATUS", "CREATED", "DURATION", "NODES", "TAGS");
  for (const auto& [run, depth] : ordered) {
    absl::StrAppend(&text, row(std::string(2 * static_cast<size_t>(depth), ' ') + run->run_id(), run->experiment(),
                               run->target(), common::StatusName(run->status()), IsoTime(run->created_unix_ms()),
                               Duration(ElapsedMs(*run)),
                               common::IsDistributed(run->spec()) ? absl::StrCat(common::NodeCount(run->spec())) : "",
                               TagsText(*run)));
  }
  return text;
}

}  // namespace runyard::cli
