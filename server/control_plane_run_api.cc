// ControlPlane's in-run API as users see it: metrics, tags, experiments, the listing with
// filters; and how child runs and the script's requested outcome end with a run.
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/run_error_code.h"
#include "common/status_macros.h"
#include "common/status_names.h"
#include "server/control_plane.h"
#include "server/control_plane_internal.h"
#include "server/run_records.h"

namespace runyard::server {
using runyard::v1::RunStatus;
namespace {

constexpr int kDefaultMetricValues = 10'000;
constexpr int kMaxMetricValues = 100'000;

}  // namespace

absl::StatusOr<std::vector<runyard::v1::Run>> ControlPlane::List(
    const runyard::v1::ListRunsRequest& request) {
  RunFilter filter;
  filter.experiment = request.experiment();
  filter.limit = request.limit();
  filter.tags.insert(request.tags().begin(), request.tags().end());
  filter.properties.insert(request.properties().begin(), request.properties().end());
  filter.status = request.status();
  filter.parent_run_id = request.parent_run_id();
  // A sweep's hundreds of children would crowd its parents out of a plain listing.
  filter.top_level_only = !request.include_children();
  // Asking for a run's children names them: an archived experiment does not hide them.
  filter.include_archived = request.include_archived() || !request.parent_run_id().empty();
  ASSIGN_OR_RETURN(std::vector<runyard::v1::Run> runs, store_->ListRuns(filter));
  if (options_.lost_holder) {
    for (runyard::v1::Run& run : runs) {
      ASSIGN_OR_RETURN(run, EndIfHolderGone(std::move(run)));
    }
  }
  for (runyard::v1::Run& run : runs) AddStatusDetail(&run);
  return runs;
}

absl::StatusOr<runyard::v1::GetMetricsResponse> ControlPlane::GetMetrics(
    const runyard::v1::GetMetricsRequest& request) {
  if (request.with_values() && request.name().empty()) {
    return absl::InvalidArgumentError("metric values are read one series at a time: name one");
  }
  ASSIGN_OR_RETURN(const bool exists, store_->RunExists(request.run_id()));
  if (!exists) return absl::NotFoundError(absl::StrCat("no run '", request.run_id(), "'"));
  runyard::v1::GetMetricsResponse response;
  response.set_next_seq(-1);
  ASSIGN_OR_RETURN(std::vector<runyard::v1::MetricSeries> series,
                   store_->MetricSummaries(request.run_id(), request.name()));
  for (auto& one : series) *response.add_series() = std::move(one);
  if (!request.with_values() || response.series_size() == 0) return response;

  runyard::v1::MetricSeries& named = *response.mutable_series(0);
  const int limit = request.max_values() <= 0 ? kDefaultMetricValues
                                              : std::min(request.max_values(), kMaxMetricValues);
  const int64_t after_seq = std::max<int64_t>(request.after_seq(), 0);
  ASSIGN_OR_RETURN(std::vector<runyard::v1::MetricValue> values,
                   store_->MetricValues(request.run_id(), request.name(), after_seq, limit));
  if (!values.empty() && values.back().seq() + 1 < named.count()) {
    response.set_next_seq(values.back().seq() + 1);
  }
  for (auto& value : values) *named.add_values() = std::move(value);
  return response;
}

absl::StatusOr<runyard::v1::Run> ControlPlane::SetTags(const runyard::v1::SetTagsRequest& request) {
  std::map<std::string, std::string> tags;
  for (const auto& [key, value] : request.tags()) {
    if (key.empty()) return absl::InvalidArgumentError("a tag's key must not be empty");
    if (const size_t chars = Utf8Chars(key); chars > kMaxRecordNameChars) {
      return absl::InvalidArgumentError(absl::StrCat("tag key '", key.substr(0, 40), "...' has ",
                                                     chars, " characters; at most ",
                                                     kMaxRecordNameChars));
    }
    if (const size_t chars = Utf8Chars(value); chars > kMaxRecordTextChars) {
      return absl::InvalidArgumentError(absl::StrCat("tag '", key, "' has a value of ", chars,
                                                     " characters; at most ", kMaxRecordTextChars));
    }
    tags[key] = value;
  }
  const std::vector<std::string> remove(request.remove().begin(), request.remove().end());
  RETURN_IF_ERROR(store_->InTransaction([&](Store& txn) -> absl::Status {
    ASSIGN_OR_RETURN(const bool exists, txn.RunExists(request.run_id()));
    if (!exists) return absl::NotFoundError(absl::StrCat("no run '", request.run_id(), "'"));
    ASSIGN_OR_RETURN(const runyard::v1::Run run, txn.GetRun(request.run_id()));
    std::map<std::string, std::string> after(run.tags().begin(), run.tags().end());
    for (const std::string& key : remove) after.erase(key);
    for (const auto& [key, value] : tags) after[key] = value;
    if (static_cast<int64_t>(after.size()) > options_.max_tags_per_run) {
      return absl::InvalidArgumentError(absl::StrCat("run ", request.run_id(), " would have ",
                                                     after.size(), " tags: over max_tags_per_run ",
                                                     options_.max_tags_per_run));
    }
    return txn.SetTags(request.run_id(), tags, remove);
  }));
  {
    std::lock_guard lock(mutex_);
    FileChangedLocked();  // watchers show the run again; no poll cares
  }
  return store_->GetRun(request.run_id());
}

absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>> ControlPlane::ListExperiments(
    bool include_archived) {
  return store_->ListExperiments(include_archived);
}

absl::StatusOr<runyard::v1::ExperimentInfo> ControlPlane::SetExperimentArchived(
    const std::string& name, bool archived) {
  if (name.empty()) return absl::InvalidArgumentError("name the experiment");
  RETURN_IF_ERROR(store_->SetExperimentArchived(name, archived));
  ASSIGN_OR_RETURN(const std::vector<runyard::v1::ExperimentInfo> experiments,
                   store_->ListExperiments(/*include_archived=*/true));
  for (const runyard::v1::ExperimentInfo& experiment : experiments) {
    if (experiment.name() == name) return experiment;
  }
  return absl::NotFoundError(absl::StrCat("no experiment '", name, "'"));
}

// ------------------------------------------------------------------ how runs end

absl::Status ControlPlane::EndChildren(Store& store, const std::string& parent_run_id,
                                       RunStatus status) {
  ASSIGN_OR_RETURN(const std::vector<std::string> children, store.ChildRuns(parent_run_id));
  for (const std::string& child : children) {
    ASSIGN_OR_RETURN(const LeaseRecord lease, store.GetLease(child));
    if (common::IsTerminal(lease.status)) continue;
    if (status != runyard::v1::COMPLETED) {
      RETURN_IF_ERROR(store.SetOutcome(child, false, 0,
                                       ErrorOf(common::RunErrorCode::kParentRunEnded,
                                               absl::StrCat("parent run ", parent_run_id, " ended ",
                                                            common::StatusName(status)))));
    }
    RETURN_IF_ERROR(Transition(store, child, status));  // and its own children
  }
  return absl::OkStatus();
}

absl::Status ControlPlane::ApplyRequestedOutcome(Store& store, const std::string& run_id,
                                                 RunStatus* status, runyard::v1::RunError* error) {
  if (*status != runyard::v1::COMPLETED) return absl::OkStatus();
  ASSIGN_OR_RETURN(const RequestedOutcome requested, store.GetRequestedOutcome(run_id));
  if (requested.status != runyard::v1::FAILED && requested.status != runyard::v1::CANCELED) {
    return absl::OkStatus();
  }
  *status = requested.status;
  *error = requested.error;
  if (error->code().empty()) {
    error->set_code(common::ToString(requested.status == runyard::v1::FAILED
                                         ? common::RunErrorCode::kUserError
                                         : common::RunErrorCode::kCanceled));
  }
  if (error->message().empty()) {
    error->set_message(requested.status == runyard::v1::FAILED
                           ? "the script marked the run failed (run.fail())"
                           : "the script canceled the run (run.cancel())");
  }
  return absl::OkStatus();
}

}  // namespace runyard::server
