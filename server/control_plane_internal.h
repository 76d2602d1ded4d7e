// What the control plane's source files share and its header does not show.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/run_error_code.h"
#include "runyard/v1/services.pb.h"

namespace runyard::server {

// The run files of the in-run API: the records a run's script wrote (the runtime sends
// its run_api/records.jsonl under this name), and what the server refused of them.
inline constexpr char kRunRecordsPath[] = "system_logs/run_records.jsonl";
inline constexpr char kRunApiErrorsPath[] = "system_logs/run_api_errors.txt";

// Whose record channel `path` is: 0 for kRunRecordsPath, k for a distributed run's node k
// (system_logs/node_<k>/run_records.jsonl); nullopt for any other file.
std::optional<int> RecordChannelNode(std::string_view path);

// A run's error with `code` (its name, as on the wire) and `message`.
inline runyard::v1::RunError ErrorOf(common::RunErrorCode code, const std::string& message) {
  runyard::v1::RunError error;
  error.set_code(common::ToString(code));
  error.set_message(message);
  return error;
}

}  // namespace runyard::server
