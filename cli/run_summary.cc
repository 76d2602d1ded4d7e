#include "cli/run_summary.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/render.h"
#include "common/status_names.h"

namespace runyard::cli {

RunSummary SummarizeRun(const runyard::v1::Run& run, const std::vector<runyard::v1::FileInfo>& files,
                        const std::string& outputs_location) {
  RunSummary summary;
  summary.run_id = run.run_id();
  summary.status = run.status();
  if (run.history_size() > 0) {
    const int64_t end = run.history(run.history_size() - 1).time_unix_ms();
    summary.total_ms = end - run.history(0).time_unix_ms();
    for (const auto& event : run.history()) {
      if (event.status() == runyard::v1::RUNNING) {
        summary.running_ms = end - event.time_unix_ms();
        break;
      }
    }
  }
  if (run.has_exit_code()) summary.exit_code = run.exit_code();
  summary.error_code = run.error().code();
  summary.error_message = run.error().message();
  for (const auto& file : files) {
    if (!absl::StartsWith(file.path(), "outputs/")) continue;
    ++summary.output_files;
    summary.output_bytes += file.size();
  }
  summary.outputs_location = outputs_location;
  return summary;
}

std::string DownloadOutputsCommand(const std::string& run_id, const std::string& server) {
  std::string command = absl::StrCat("runyard download ", run_id, " --prefix outputs/ -o ", run_id);
  if (!server.empty()) absl::StrAppend(&command, " --server ", server);
  return command;
}

std::string RenderSummary(const RunSummary& summary) {
  std::string text = absl::StrCat("\nRun ", summary.run_id, " ", common::StatusName(summary.status));
  if (summary.exit_code) absl::StrAppend(&text, " (exit code ", *summary.exit_code, ")");
  absl::StrAppend(&text, " after ", Duration(summary.total_ms));
  if (summary.running_ms) absl::StrAppend(&text, " (", Duration(*summary.running_ms), " running)");
  absl::StrAppend(&text, "\n");
  if (!summary.error_code.empty()) {
    absl::StrAppend(&text, "Error: ", summary.error_code, ": ", summary.error_message, "\n");
  }
  // A listing that could not be read still lets the summary say where outputs would be.
  if (summary.output_files > 0 || !summary.outputs_counted) {
    absl::StrAppend(&text, "Outputs: ", summary.outputs_location, "\n");
  } else {
    absl::StrAppend(&text, "Outputs: none (the run wrote nothing to outputs/)\n");
  }
  absl::StrAppend(&text, "Details: runyard status ", summary.run_id, "  |  files: runyard files ", summary.run_id,
                  "\n");
  return text;
}

nlohmann::json SummaryToJson(const RunSummary& summary) {
  nlohmann::json json;
  json["run_id"] = summary.run_id;
  json["status"] = common::StatusName(summary.status);
  json["duration_ms"] = summary.total_ms;
  json["running_ms"] = summary.running_ms ? nlohmann::json(*summary.running_ms) : nlohmann::json(nullptr);
  json["exit_code"] = summary.exit_code ? nlohmann::json(*summary.exit_code) : nlohmann::json(nullptr);
  json["error"] = summary.error_code.empty()
                      ? nlohmann::json(nullptr)
                      : nlohmann::json({{"code", summary.error_code}, {"message", summary.error_message}});
  // Outputs that could not be counted are null, never a made-up 0.
  const bool show_location = summary.output_files > 0 || !summary.outputs_counted;
  json["outputs"] = {
      {"files", summary.outputs_counted ? nlohmann::json(summary.output_files) : nlohmann::json(nullptr)},
      {"bytes", summary.outputs_counted ? nlohmann::json(summary.output_bytes) : nlohmann::json(nullptr)},
      {"location", show_location ? nlohmann::json(summary.outputs_location) : nlohmann::json(nullptr)}};
  return json;
}

}  // namespace runyard::cli
