#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runyard/v1/run.pb.h"

namespace runyard::cli {

// What `runyard show RUN` tells (Azure's run.get_details()): the run, its child runs, and
// its file listing (for the log files and the outputs count).
struct RunDetails {
  runyard::v1::Run run;
  std::vector<runyard::v1::Run> children;
  std::vector<runyard::v1::FileInfo> files;
  bool files_listed = true;  // false: the listing could not be read
};

// Files under user_logs/, system_logs/ and logs/, by path.
std::vector<runyard::v1::FileInfo> LogFiles(const std::vector<runyard::v1::FileInfo>& files);

// RunToJson's fields and: display_name, parent_run_id, children [{run_id, display_name,
// status}], start_time / end_time (null until then), durations {total_ms, running_ms},
// definition {script, command, arguments, source_directory, environment {name,
// interpreter, user_managed_dependencies, pip_requirements_file, pip_packages,
// conda_dependencies_file, variables (names only: values may be secrets)}, resources,
// max_run_duration_seconds, successful_return_codes, snapshot_id}, log_files [{path,
// size}], outputs {files, bytes} (null when the listing could not be read).
nlohmann::json DetailsToJson(const RunDetails& details);
std::string RenderDetails(const RunDetails& details);

}  // namespace runyard::cli
