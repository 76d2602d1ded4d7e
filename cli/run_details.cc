#include "cli/run_details.h"

#include <algorithm>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/render.h"
#include "cli/run_nodes.h"
#include "common/distributed_config.h"
#include "common/snapshot_manifest.h"
#include "common/status_names.h"

namespace runyard::cli {
namespace {

struct Timings {
  std::optional<int64_t> created_ms;  // the first status
  std::optional<int64_t> start_ms;    // Running
  std::optional<int64_t> end_ms;      // the terminal status
};

Timings TimingsOf(const runyard::v1::Run& run) {
  Timings timings;
  for (const auto& event : run.history()) {
    if (!timings.created_ms) timings.created_ms = event.time_unix_ms();
    if (event.status() == runyard::v1::RUNNING && !timings.start_ms)
      timings.start_ms = event.time_unix_ms();
    if (common::IsTerminal(event.status())) timings.end_ms = event.time_unix_ms();
  }
  return timings;
}

struct OutputCount {
  int64_t files = 0;
  int64_t bytes = 0;
};

OutputCount CountOutputs(const std::vector<runyard::v1::FileInfo>& files) {
  OutputCount count;
  for (const auto& file : files) {
    if (!absl::StartsWith(file.path(), "outputs/")) continue;
    ++count.files;
    count.bytes += file.size();
  }
  return count;
}

std::vector<std::string> VariableNames(const runyard::v1::RunSpec& spec) {
  std::vector<std::string> names;
  for (const auto& [name, value] : spec.environment().environment_variables())
    names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

std::string DisplayName(const runyard::v1::Run& run) { return run.spec().display_name(); }

nlohmann::json OptionalTime(const std::optional<int64_t>& ms) {
  return ms ? nlohmann::json(IsoTime(*ms)) : nlohmann::json(nullptr);
}

std::string EnvironmentText(const runyard::v1::RunSpec& spec) {
  const auto& environment = spec.environment();
  const auto& python = environment.python();
  std::vector<std::string> parts;
  if (!environment.name().empty()) parts.push_back(environment.name());
  parts.push_back(absl::StrCat(
      "python ", python.interpreter_path().empty() ? "python3" : python.interpreter_path(),
      python.user_managed_dependencies() ? " (user managed)" : ""));
  if (!python.pip_requirements_file().empty())
    parts.push_back("pip -r " + python.pip_requirements_file());
  if (!python.pip_packages().empty())
    parts.push_back("pip " + absl::StrJoin(python.pip_packages(), " "));
  if (!python.conda_dependencies_file().empty())
    parts.push_back("conda " + python.conda_dependencies_file());
  const std::vector<std::string> names = VariableNames(spec);
  if (!names.empty()) {
    parts.push_back(absl::StrCat(names.size(), names.size() == 1 ? " variable (" : " variables (",
                                 absl::StrJoin(names, ", "), ")"));
  }
  return absl::StrJoin(parts, "; ");
}

void AppendMap(std::string* text, const std::string& title,
               const std::map<std::string, std::string>& map) {
  if (map.empty()) {
    absl::StrAppend(text, absl::StrFormat("%-14s none\n", title + ":"));
    return;
  }
  absl::StrAppend(text, title, ":\n");
  for (const auto& [key, value] : map) absl::StrAppend(text, "  ", key, " = ", value, "\n");
}

}  // namespace

std::vector<runyard::v1::FileInfo> LogFiles(const std::vector<runyard::v1::FileInfo>& files) {
  std::vector<runyard::v1::FileInfo> logs;
  for (const auto& file : files) {
    if (absl::StartsWith(file.path(), "user_logs/") ||
        absl::StartsWith(file.path(), "system_logs/") || absl::StartsWith(file.path(), "logs/")) {
      logs.push_back(file);
    }
  }
  std::sort(logs.begin(), logs.end(),
            [](const auto& a, const auto& b) { return a.path() < b.path(); });
  return logs;
}

nlohmann::json DetailsToJson(const RunDetails& details) {
  const auto& run = details.run;
  const auto& spec = run.spec();
  nlohmann::json json = RunToJson(run);
  json["children"] = nlohmann::json::array();
  for (const auto& child : details.children) {
    json["children"].push_back({{"run_id", child.run_id()},
                                {"display_name", DisplayName(child)},
                                {"status", common::StatusName(child.status())}});
  }
  const Timings timings = TimingsOf(run);
  json["start_time"] = OptionalTime(timings.start_ms);
  json["end_time"] = OptionalTime(timings.end_ms);
  const int64_t last_ms =
      run.history_size() > 0 ? run.history(run.history_size() - 1).time_unix_ms() : 0;
  json["durations"] = {
      {"total_ms", timings.created_ms ? nlohmann::json(last_ms - *timings.created_ms)
                                      : nlohmann::json(nullptr)},
      {"running_ms",
       timings.start_ms ? nlohmann::json(last_ms - *timings.start_ms) : nlohmann::json(nullptr)}};
  const auto& python = spec.environment().python();
  json["definition"] = {
      {"script", spec.script()},
      {"command", std::vector<std::string>(spec.command().begin(), spec.command().end())},
      {"arguments", std::vector<std::string>(spec.arguments().begin(), spec.arguments().end())},
      {"source_directory", spec.source_directory()},
      {"compute_target", spec.compute_target()},
      {"environment",
       {{"name", spec.environment().name()},
        {"interpreter", python.interpreter_path()},
        {"user_managed_dependencies", python.user_managed_dependencies()},
        {"pip_requirements_file", python.pip_requirements_file()},
        {"pip_packages",
         std::vector<std::string>(python.pip_packages().begin(), python.pip_packages().end())},
        {"conda_dependencies_file", python.conda_dependencies_file()},
        {"variables", VariableNames(spec)}}},
      {"resources",
       {{"cpus", spec.resources().cpus()},
        {"memory_mb", spec.resources().memory_mb()},
        {"gpus", spec.resources().gpus()}}},
      {"max_run_duration_seconds", spec.max_run_duration_seconds()},
      {"successful_return_codes", std::vector<int>(spec.successful_return_codes().begin(),
                                                   spec.successful_return_codes().end())},
      {"snapshot_id", spec.snapshot_id()}};
  json["log_files"] = nlohmann::json::array();
  for (const auto& file : LogFiles(details.files)) {
    json["log_files"].push_back({{"path", file.path()}, {"size", file.size()}});
  }
  if (details.files_listed) {
    const OutputCount outputs = CountOutputs(details.files);
    json["outputs"] = {{"files", outputs.files}, {"bytes", outputs.bytes}};
  } else {
    json["outputs"] = nullptr;
  }
  return json;
}

std::string RenderDetails(const RunDetails& details) {
  const auto& run = details.run;
  const auto& spec = run.spec();
  std::string text;
  auto line = [&](const std::string& title, const std::string& value) {
    absl::StrAppend(&text, absl::StrFormat("%-14s %s\n", title + ":", value));
  };
  line("Run", run.run_id() + (DisplayName(run).empty() ? "" : " (" + DisplayName(run) + ")"));
  line("Experiment", run.experiment());
  std::string status = common::StatusName(run.status());
  if (run.has_exit_code()) absl::StrAppend(&status, " (exit code ", run.exit_code(), ")");
  if (!run.status_detail().empty()) absl::StrAppend(&status, " (", run.status_detail(), ")");
  line("Status", status);
  if (!run.error().code().empty()) {
    line("Error", absl::StrCat(run.error().code(), ": ", run.error().message()));
    if (!run.error().details().empty()) line("Error details", run.error().details());
  }
  line("Target", run.target().empty() ? spec.compute_target() : run.target());
  line("Agent", run.agent_id().empty() ? "none" : run.agent_id());
  if (!run.submitted_by().empty()) line("Submitted by", run.submitted_by());
  if (!run.canceled_by().empty()) line("Canceled by", run.canceled_by());
  if (common::IsDistributed(spec)) {
    line("Distributed", absl::StrCat(DistributedText(spec),
                                     run.attempt() > 1 ? absl::StrCat(" (attempt ", run.attempt(), ")") : ""));
    const std::string nodes = NodesTable(run, "  ");
    if (nodes.empty()) {
      line("Nodes", "none yet");
    } else {
      absl::StrAppend(&text, "Nodes:\n", nodes);
    }
  }
  line("Parent", run.parent_run_id().empty() ? "none" : run.parent_run_id());
  if (details.children.empty()) {
    line("Children", "none");
  } else {
    line("Children", absl::StrCat(details.children.size()));
    for (const auto& child : details.children) {
      absl::StrAppend(&text,
                      absl::StrFormat("  %-22s %-16s %s\n", child.run_id(),
                                      common::StatusName(child.status()), DisplayName(child)));
    }
  }

  const Timings timings = TimingsOf(run);
  line("Created", IsoTime(run.created_unix_ms()));
  line("Started", timings.start_ms ? IsoTime(*timings.start_ms) : "not yet");
  line("Ended", timings.end_ms ? IsoTime(*timings.end_ms) : "not yet");
  if (timings.created_ms && run.history_size() > 0) {
    const int64_t last_ms = run.history(run.history_size() - 1).time_unix_ms();
    std::string took = Duration(last_ms - *timings.created_ms);
    if (timings.start_ms)
      absl::StrAppend(&took, " (", Duration(last_ms - *timings.start_ms), " running)");
    line("Duration", took);
  }
  absl::StrAppend(&text, "History:\n");
  const int64_t first = timings.created_ms.value_or(0);
  for (int i = 0; i < run.history_size(); ++i) {
    const auto& event = run.history(i);
    // How long the run stayed in each status: what a slow Preparing or Queued looks like.
    const std::string stayed =
        i + 1 < run.history_size()
            ? absl::StrCat(", for ",
                           Duration(run.history(i + 1).time_unix_ms() - event.time_unix_ms()))
            : "";
    absl::StrAppend(&text,
                    absl::StrFormat("  %-16s %s  (+%s%s)\n", common::StatusName(event.status()),
                                    IsoTime(event.time_unix_ms()),
                                    Duration(event.time_unix_ms() - first), stayed));
  }

  absl::StrAppend(&text, "Definition:\n");
  auto item = [&](const std::string& title, const std::string& value) {
    absl::StrAppend(&text, absl::StrFormat("  %-13s %s\n", title + ":", value));
  };
  if (!spec.script().empty()) {
    item("script",
         absl::StrJoin(
             spec.arguments().empty()
                 ? std::vector<std::string>{spec.script()}
                 : std::vector<std::string>{spec.script(), absl::StrJoin(spec.arguments(), " ")},
             " "));
  } else {
    std::vector<std::string> words(spec.command().begin(), spec.command().end());
    words.insert(words.end(), spec.arguments().begin(), spec.arguments().end());
    item("command", absl::StrJoin(words, " "));
  }
  if (!spec.source_directory().empty()) item("source", spec.source_directory());
  item("environment", EnvironmentText(spec));
  std::vector<std::string> resources;
  if (spec.resources().cpus() > 0)
    resources.push_back(absl::StrCat(spec.resources().cpus(), " CPUs"));
  if (spec.resources().memory_mb() > 0)
    resources.push_back(absl::StrCat(spec.resources().memory_mb(), " MB memory"));
  if (spec.resources().gpus() > 0)
    resources.push_back(absl::StrCat(spec.resources().gpus(), " GPUs"));
  item("resources", resources.empty() ? "not limited" : absl::StrJoin(resources, ", "));
  item("max duration", spec.max_run_duration_seconds() > 0
                           ? Duration(spec.max_run_duration_seconds() * 1000)
                           : "the default (30 days)");
  if (!spec.successful_return_codes().empty()) {
    item("success codes", absl::StrJoin(spec.successful_return_codes(), ", "));
  }
  item("snapshot", spec.snapshot_id());

  AppendMap(&text, "Tags", RunTags(run));
  AppendMap(&text, "Properties", RunProperties(run));
  if (run.usage().measured()) {
    line("Usage", absl::StrFormat("%.2f CPU seconds, %s peak memory, %d processes at most",
                                  run.usage().cpu_seconds(),
                                  common::HumanBytes(run.usage().peak_memory_bytes()),
                                  run.usage().peak_pids()));
  } else {
    line("Usage", "not measured");
  }
  if (!details.files_listed) {
    line("Log files", "the file listing could not be read");
    return text;
  }
  const std::vector<runyard::v1::FileInfo> logs = LogFiles(details.files);
  if (logs.empty()) {
    line("Log files", "none");
  } else {
    absl::StrAppend(&text, "Log files:\n");
    for (const auto& file : logs) {
      absl::StrAppend(
          &text, absl::StrFormat("  %-40s %s\n", file.path(), common::HumanBytes(file.size())));
    }
  }
  const OutputCount outputs = CountOutputs(details.files);
  line("Outputs", absl::StrCat(outputs.files, outputs.files == 1 ? " file, " : " files, ",
                               common::HumanBytes(outputs.bytes)));
  return text;
}

}  // namespace runyard::cli
