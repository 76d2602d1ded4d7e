#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runyard/v1/run.pb.h"

namespace runyard::cli {

// What `runyard run` and `runyard logs -f` show once a run has ended.
struct RunSummary {
  std::string run_id;
  runyard::v1::RunStatus status = runyard::v1::RUN_STATUS_UNSPECIFIED;
  int64_t total_ms = 0;                // from submit to the last status
  std::optional<int64_t> running_ms;   // from Running to the last status, when it ran
  std::optional<int> exit_code;
  std::string error_code;
  std::string error_message;
  int64_t output_files = 0;            // files under outputs/
  int64_t output_bytes = 0;
  bool outputs_counted = true;         // false: the listing could not be read
  std::string outputs_location;        // a local folder, or the command that downloads them
};

// `files` is the run's listing; `outputs_location` where its outputs/ can be had.
RunSummary SummarizeRun(const runyard::v1::Run& run, const std::vector<runyard::v1::FileInfo>& files,
                        const std::string& outputs_location);

// "runyard download RUN --prefix outputs/ -o RUN [--server ADDR]"
std::string DownloadOutputsCommand(const std::string& run_id, const std::string& server);

// Starts with an empty line (the script's output may not end with a newline):
//   Run run-1 Failed (exit code 3) after 4.210 s (3.900 s running)
//   Error: UserError: the script exited with code 3
//   Outputs: runyard download run-1 --prefix outputs/ -o run-1      (or "none (...)")
//   Details: runyard status run-1  |  files: runyard files run-1
std::string RenderSummary(const RunSummary& summary);
// {run_id, status, duration_ms, running_ms, exit_code, error {code, message}, outputs {files, bytes, location}}
nlohmann::json SummaryToJson(const RunSummary& summary);

}  // namespace runyard::cli
