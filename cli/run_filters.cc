#include "cli/run_filters.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_names.h"

namespace runyard::cli {
namespace {

// Every status a run can be in, as runyard prints them.
std::vector<runyard::v1::RunStatus> KnownStatuses() {
  std::vector<runyard::v1::RunStatus> statuses;
  for (int value = runyard::v1::RunStatus_MIN; value <= runyard::v1::RunStatus_MAX; ++value) {
    const auto status = static_cast<runyard::v1::RunStatus>(value);
    if (runyard::v1::RunStatus_IsValid(value) && status != runyard::v1::RUN_STATUS_UNSPECIFIED) {
      statuses.push_back(status);
    }
  }
  return statuses;
}

// Fills `into` from KEY=VALUE / KEY texts; a key given twice is an error (which one wins
// would be a guess).
absl::Status AddPairs(const std::string& flag, const std::vector<std::string>& texts,
                      google::protobuf::Map<std::string, std::string>* into) {
  for (const std::string& text : texts) {
    absl::StatusOr<std::pair<std::string, std::string>> pair = ParseKeyValue(flag, text);
    if (!pair.ok()) return pair.status();
    if (into->contains(pair->first)) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " names '", pair->first, "' twice: give each key once"));
    }
    (*into)[pair->first] = pair->second;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::pair<std::string, std::string>> ParseKeyValue(const std::string& flag,
                                                                  const std::string& text) {
  const size_t equals = text.find('=');
  const std::string key = text.substr(0, equals);
  if (key.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " wants KEY=VALUE or KEY: got '", text, "'"));
  }
  const std::string value = equals == std::string::npos ? std::string() : text.substr(equals + 1);
  return std::make_pair(key, value);
}

absl::StatusOr<runyard::v1::RunStatus> ParseStatusFlag(const std::string& text) {
  std::vector<std::string> names;
  for (runyard::v1::RunStatus status : KnownStatuses()) {
    const std::string name = common::StatusName(status);
    if (absl::EqualsIgnoreCase(name, text)) return status;
    names.push_back(name);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--status '", text, "' is not a run status: use one of ", absl::StrJoin(names, ", ")));
}

absl::StatusOr<runyard::v1::ListRunsRequest> BuildListRequest(const ListFlags& flags) {
  if (flags.limit < 0) return absl::InvalidArgumentError("--limit must be 0 or more");
  runyard::v1::ListRunsRequest request;
  request.set_experiment(flags.experiment);
  request.set_limit(flags.limit);
  if (absl::Status ok = AddPairs("--tag", flags.tags, request.mutable_tags()); !ok.ok()) return ok;
  if (absl::Status ok = AddPairs("--property", flags.properties, request.mutable_properties());
      !ok.ok()) {
    return ok;
  }
  if (!flags.status.empty()) {
    absl::StatusOr<runyard::v1::RunStatus> status = ParseStatusFlag(flags.status);
    if (!status.ok()) return status.status();
    request.set_status(*status);
  }
  request.set_parent_run_id(flags.parent);
  request.set_include_children(flags.children);
  request.set_include_archived(flags.archived);
  return request;
}

}  // namespace runyard::cli
