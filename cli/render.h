#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runyard/v1/run.pb.h"

namespace runyard::cli {

// The JSON every --json command prints for a run: run_id, status, exit_code (null when
// none), error {code, message, details} when not Completed, history [{status, time}],
// submitted_by / canceled_by (who, as the server's audit names them; "" when not known), ...
nlohmann::json RunToJson(const runyard::v1::Run& run);

// The run's tags as they are now, and its properties (the spec's and those the run
// added), sorted by key.
std::map<std::string, std::string> RunTags(const runyard::v1::Run& run);
std::map<std::string, std::string> RunProperties(const runyard::v1::Run& run);

// Human text.
std::string DescribeRun(const runyard::v1::Run& run);
std::string RunTable(const std::vector<runyard::v1::Run>& runs);
// `runyard list`: RunTable with each child run right under its parent (indented, oldest
// child first) when the parent is listed too, and a TAGS column when any run has tags.
std::string RunTreeTable(const std::vector<runyard::v1::Run>& runs);
// "2026-11-26T16:50:01.123Z"
std::string IsoTime(int64_t unix_ms);
// "3.2 s", "4 min 10 s"
std::string Duration(int64_t ms);

}  // namespace runyard::cli
