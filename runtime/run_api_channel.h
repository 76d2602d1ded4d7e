#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/workspace.h"
#include "runyard/v1/spec.pb.h"
#include "sandbox/run_as.h"

namespace runyard::runtime {

// Ceilings the SDK enforces in the script (context.json "limits"); the server has its own.
struct RunApiLimits {
  int64_t max_metric_values_per_run = 5'000'000;
  int64_t max_children_per_run = 10'000;
  int64_t max_tags_per_run = 1'000;  // tags and properties each
  // records.jsonl: nothing past this is reported (the follower), nor written by the SDK
  // (context.json "max_records_bytes"). The agent's max_run_api_bytes.
  int64_t max_records_bytes = 1LL << 30;
};

// Where the script talks back to the runtime (docs: issue 15's contract):
//   <run root>/run_api/records.jsonl  the script appends records (one os.write per line)
//   <run root>/run_api/committed      offset of records.jsonl the control plane acknowledged
//   <run root>/run_api/context.json   who the run is, its limits and folders (read once)
struct RunApiChannel {
  std::filesystem::path dir;
  std::filesystem::path records;
  std::filesystem::path committed;
  std::filesystem::path context;
  // The SDK's counter of child run numbers (flock'ed by every process of the run that
  // creates children); created empty, and the run user's like records.jsonl.
  std::filesystem::path children_count;
};

// The run file records.jsonl is mirrored to.
inline constexpr char kRunRecordsHistoryPath[] = "system_logs/run_records.jsonl";

// The channel's paths under a run's root folder (nothing is created).
RunApiChannel RunApiChannelAt(const std::filesystem::path& run_root);

// Creates the folder with an empty records.jsonl, `committed` at 0 and context.json.
// Under `run_as`, records.jsonl is given to that user (0660); the folder, `committed` and
// context.json stay the runtime's (0755 / 0644), so the script can append records but
// cannot replace a file the runtime reads with a link to something else.
absl::StatusOr<RunApiChannel> CreateRunApiChannel(const Workspace& workspace,
                                                  const std::string& run_id,
                                                  const runyard::v1::RunSpec& spec,
                                                  const RunApiLimits& limits,
                                                  const std::optional<sandbox::RunAs>& run_as);

// context.json's text for a run (one JSON object, see the contract).
std::string RunApiContextJson(const RunApiChannel& channel, const Workspace& workspace,
                              const std::string& run_id, const runyard::v1::RunSpec& spec,
                              const RunApiLimits& limits);

// `committed`'s content for `offset`: 20 digits and '\n', fixed width, so that a pwrite at
// 0 replaces it whole and a reader never sees a shorter number.
std::string CommittedText(int64_t offset);

}  // namespace runyard::runtime
