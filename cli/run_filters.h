#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "runyard/v1/run.pb.h"
#include "runyard/v1/services.pb.h"

namespace runyard::cli {

// `KEY=VALUE` or `KEY` (value ""), as `runyard tag` and `list --tag/--property` take them.
// `flag` names the option in the error: "--tag wants KEY=VALUE or KEY: got '=x'".
absl::StatusOr<std::pair<std::string, std::string>> ParseKeyValue(const std::string& flag,
                                                                  const std::string& text);

// A status as runyard prints it ("Running", "CancelRequested"), in any case. A wrong one
// is an error listing every valid name.
absl::StatusOr<runyard::v1::RunStatus> ParseStatusFlag(const std::string& text);

// `runyard list`'s flags, as typed.
struct ListFlags {
  std::string experiment;
  int limit = 50;
  std::vector<std::string> tags;        // KEY=VALUE, or KEY: any value
  std::vector<std::string> properties;  // the same
  std::string status;                   // empty: any
  std::string parent;                   // only the children of this run
  bool children = false;                // also child runs (without --parent: top-level only)
  bool archived = false;                // also runs of archived experiments
};

absl::StatusOr<runyard::v1::ListRunsRequest> BuildListRequest(const ListFlags& flags);

}  // namespace runyard::cli
