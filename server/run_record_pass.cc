#include "server/run_record_pass.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/distributed_config.h"
#include "common/run_error_code.h"
#include "common/status_macros.h"
#include "common/status_names.h"
#include "server/control_plane_internal.h"

namespace runyard::server {
using runyard::v1::RunStatus;
namespace {

// Refused lines explained one by one per pass; the rest are counted in one line.
constexpr int kMaxExplainedLines = 100;

// `<parent>_<n>`: the only child run ids a run may create.
bool IsChildIdOf(const std::string& child, const std::string& parent) {
  if (child.size() <= parent.size() + 1 || !absl::StartsWith(child, parent) ||
      child[parent.size()] != '_') {
    return false;
  }
  const std::string_view number = std::string_view(child).substr(parent.size() + 1);
  return number.size() <= 18 && std::all_of(number.begin(), number.end(), absl::ascii_isdigit);
}

// The error of a Failed / Canceled status record: the script's, or a default.
runyard::v1::RunError ErrorFor(const RunRecord& record, absl::string_view default_message) {
  runyard::v1::RunError error = record.error;
  if (error.code().empty()) {
    error.set_code(common::ToString(record.status == runyard::v1::CANCELED
                                        ? common::RunErrorCode::kCanceled
                                        : common::RunErrorCode::kUserError));
  }
  if (error.message().empty()) error.set_message(std::string(default_message));
  return error;
}

}  // namespace

RecordPass::RecordPass(Store& txn, const std::string& run_id, const RecordLimits& limits,
                       const common::Clock* clock, RunEndings endings, int node_rank)
    : txn_(txn),
      root_id_(run_id),
      limits_(limits),
      clock_(clock),
      endings_(std::move(endings)),
      node_rank_(node_rank),
      records_path_(common::NodeFilePath(node_rank, kRunRecordsPath)) {}

absl::Status RecordPass::Apply(int64_t base, std::string_view lines) {
  ASSIGN_OR_RETURN(const runyard::v1::Run root, txn_.GetRun(root_id_));
  experiment_ = root.experiment();
  target_ = root.target();
  Remember(root);
  size_t pos = 0;
  while (pos < lines.size()) {
    size_t end = lines.find('\n', pos);
    if (end == std::string_view::npos) end = lines.size();
    const std::string_view line = lines.substr(pos, end - pos);
    const int64_t at = base + static_cast<int64_t>(pos);
    pos = end + 1;
    if (absl::StripAsciiWhitespace(absl::string_view(line.data(), line.size())).empty()) continue;
    absl::StatusOr<RunRecord> record = ParseRunRecord(line);
    if (!record.ok()) {
      Refuse(at, record.status().message());
      continue;
    }
    RETURN_IF_ERROR(ApplyRecord(at, *record));
  }
  if (!appends_.empty()) RETURN_IF_ERROR(txn_.AppendMetrics(appends_));
  return txn_.SetNodeRecordsIngested(root_id_, node_rank_,
                                     base + static_cast<int64_t>(lines.size()));
}

void RecordPass::Remember(const runyard::v1::Run& run) {
  Known& known = known_[run.run_id()];
  known.status = run.status();
  known.tags.insert(run.tags().begin(), run.tags().end());
  known.properties.insert(run.properties().begin(), run.properties().end());
}

void RecordPass::Refuse(int64_t at, absl::string_view why) {
  ++refused_;
  if (refused_ <= kMaxExplainedLines) {
    absl::StrAppend(&errors_, records_path_, " byte ", at, ": ", why, "\n");
  } else {
    last_unexplained_ = at;
  }
}

int64_t RecordPass::TimeMs(double seconds) const {
  return seconds > 0 ? static_cast<int64_t>(std::llround(seconds * 1000)) : clock_->NowUnixMs();
}

// The run a record is about: the root or one of its children; nullptr (and the line
// refused) for any other.
absl::StatusOr<RecordPass::Known*> RecordPass::Target(int64_t at, const std::string& run_id) {
  if (run_id.empty() || run_id == root_id_) return &known_[root_id_];
  if (auto found = known_.find(run_id); found != known_.end()) return &found->second;
  ASSIGN_OR_RETURN(const bool exists, txn_.RunExists(run_id));
  if (exists) {
    ASSIGN_OR_RETURN(const runyard::v1::Run run, txn_.GetRun(run_id));
    if (run.parent_run_id() == root_id_) {
      Remember(run);
      return &known_[run_id];
    }
  }
  Refuse(at, absl::StrCat("run '", run_id, "' is neither run ", root_id_,
                          " nor a child run it created; the record is not kept"));
  return nullptr;
}

absl::Status RecordPass::ApplyRecord(int64_t at, RunRecord& record) {
  if (record.kind == RunRecord::Kind::kChild) return CreateChild(at, record);
  ASSIGN_OR_RETURN(Known* const target, Target(at, record.run_id));
  if (target == nullptr) return absl::OkStatus();
  const std::string& run_id = record.run_id.empty() ? root_id_ : record.run_id;
  switch (record.kind) {
    case RunRecord::Kind::kMetric:
      return AddMetric(at, run_id, *target, record);
    case RunRecord::Kind::kTags:
      return AddTags(at, run_id, *target, record.entries);
    case RunRecord::Kind::kProperties:
      return AddProperties(at, run_id, *target, record.entries);
    case RunRecord::Kind::kStatus:
      return SetStatus(run_id, *target, record);
    case RunRecord::Kind::kChild:
      break;
  }
  return absl::OkStatus();
}

absl::Status RecordPass::AddMetric(int64_t at, const std::string& run_id, Known& target,
                                   RunRecord& record) {
  if (target.metric_values < 0) {
    ASSIGN_OR_RETURN(target.metric_values, txn_.CountMetricValues(run_id));
  }
  const int64_t limit = limits_.max_metric_values_per_run;
  const auto count = static_cast<int64_t>(record.values.size());
  if (target.metric_values + count > limit) {
    Refuse(at, absl::StrCat("max_metric_values_per_run ", limit, " reached: run ", run_id, " has ",
                            target.metric_values, " metric values; the ", count,
                            " value(s) of metric '", record.name, "' are not kept"));
    return absl::OkStatus();
  }
  target.metric_values += count;
  values_ += count;
  // One append per series and pass: the order within a series is what counts.
  auto [slot, fresh] = series_.try_emplace(std::make_pair(run_id, record.name), appends_.size());
  if (fresh) {
    MetricAppend& append = appends_.emplace_back();
    append.run_id = run_id;
    append.name = record.name;
  }
  MetricAppend& append = appends_[slot->second];
  if (append.description.empty()) append.description = record.description;
  append.values.insert(append.values.end(), std::make_move_iterator(record.values.begin()),
                       std::make_move_iterator(record.values.end()));
  return absl::OkStatus();
}

// Whether `entries` fit under max_tags_per_run beside `current`; refuses the line if not.
bool RecordPass::Fits(int64_t at, const std::string& run_id,
                      const std::map<std::string, std::string>& current,
                      const std::map<std::string, std::string>& entries, absl::string_view what) {
  size_t after = current.size();
  for (const auto& [key, value] : entries) after += current.count(key) == 0 ? 1 : 0;
  const int64_t limit = limits_.max_tags_per_run;
  if (static_cast<int64_t>(after) <= limit) return true;
  Refuse(at, absl::StrCat("max_tags_per_run ", limit, " reached: run ", run_id, " would have ",
                          after, " ", what, "; not applied"));
  return false;
}

absl::Status RecordPass::AddTags(int64_t at, const std::string& run_id, Known& target,
                                 const std::map<std::string, std::string>& tags) {
  if (tags.empty() || !Fits(at, run_id, target.tags, tags, "tags")) return absl::OkStatus();
  RETURN_IF_ERROR(txn_.SetTags(run_id, tags, {}));
  for (const auto& [key, value] : tags) target.tags[key] = value;
  return absl::OkStatus();
}

absl::Status RecordPass::AddProperties(int64_t at, const std::string& run_id, Known& target,
                                       const std::map<std::string, std::string>& properties) {
  for (const auto& [key, value] : properties) {
    auto found = target.properties.find(key);
    if (found != target.properties.end() && found->second != value) {
      // Checked here, not left to the store: a refused write could abort the transaction.
      Refuse(at, absl::StrCat("property '", key, "' of run ", run_id, " is already '",
                              found->second.substr(0, 200),
                              "'; properties cannot change, so none of this line is applied"));
      return absl::OkStatus();
    }
  }
  if (properties.empty() || !Fits(at, run_id, target.properties, properties, "properties")) {
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(txn_.AddProperties(run_id, properties));
  target.properties.insert(properties.begin(), properties.end());
  return absl::OkStatus();
}

absl::Status RecordPass::SetStatus(const std::string& run_id, Known& target,
                                   const RunRecord& record) {
  if (common::IsTerminal(target.status)) return absl::OkStatus();  // ended already: too late
  if (run_id == root_id_) {
    // The run's own process decides how it ends; the script's wish is applied then.
    if (record.status == runyard::v1::COMPLETED) return absl::OkStatus();
    RequestedOutcome outcome;
    outcome.status = record.status;
    outcome.error = ErrorFor(record, record.status == runyard::v1::FAILED
                                         ? "the script marked the run failed (run.fail())"
                                         : "the script canceled the run (run.cancel())");
    RETURN_IF_ERROR(txn_.SetRequestedOutcome(run_id, outcome));
    cancel_asked_ = cancel_asked_ || record.status == runyard::v1::CANCELED;
    return absl::OkStatus();
  }
  if (record.status != runyard::v1::COMPLETED) {
    RETURN_IF_ERROR(txn_.SetOutcome(run_id, false, 0,
                                    ErrorFor(record, record.status == runyard::v1::FAILED
                                                         ? "the script marked the child run failed"
                                                         : "the script canceled the child run")));
  }
  RETURN_IF_ERROR(endings_.transition_at(txn_, run_id, record.status, TimeMs(record.time)));
  target.status = record.status;
  runs_changed_ = true;
  return absl::OkStatus();
}

absl::Status RecordPass::CreateChild(int64_t at, const RunRecord& record) {
  const std::string& child_id = record.run_id;
  if (!IsChildIdOf(child_id, root_id_)) {
    Refuse(at, absl::StrCat("child run id '", child_id, "' is not ", root_id_,
                            "_<n>; the child is not created"));
    return absl::OkStatus();
  }
  if (known_.count(child_id) > 0) return absl::OkStatus();  // created already
  ASSIGN_OR_RETURN(const bool exists, txn_.RunExists(child_id));
  if (exists) {
    // A run id of this form that is no child of the root: Target refuses it.
    return Target(at, child_id).status();
  }
  if (children_ < 0) {
    ASSIGN_OR_RETURN(const std::vector<std::string> children, txn_.ChildRuns(root_id_));
    children_ = static_cast<int64_t>(children.size());
  }
  const int64_t limit = limits_.max_children_per_run;
  if (children_ >= limit) {
    Refuse(at, absl::StrCat("max_children_per_run ", limit, " reached: run ", root_id_, " has ",
                            children_, " child runs; ", child_id, " is not created"));
    return absl::OkStatus();
  }
  if (!Fits(at, child_id, {}, record.entries, "tags")) return absl::OkStatus();

  const int64_t time_ms = TimeMs(record.time);
  runyard::v1::Run child;
  child.set_run_id(child_id);
  child.set_parent_run_id(root_id_);
  child.set_experiment(experiment_);
  child.set_target(target_);
  child.set_created_unix_ms(time_ms);
  child.set_submitted_by("run " + root_id_ + "'s script");
  child.set_status(runyard::v1::RUNNING);
  for (RunStatus status : {runyard::v1::NOT_STARTED, runyard::v1::RUNNING}) {
    auto* event = child.add_history();
    event->set_status(status);
    event->set_time_unix_ms(time_ms);
  }
  runyard::v1::RunSpec& spec = *child.mutable_spec();
  spec.set_experiment(experiment_);
  spec.set_compute_target(target_);
  spec.set_display_name(record.name);
  spec.mutable_tags()->insert(record.entries.begin(), record.entries.end());
  RETURN_IF_ERROR(txn_.InsertRun(child));
  ++children_;
  runs_changed_ = true;
  Known& known = known_[child_id];
  known.status = runyard::v1::RUNNING;
  known.tags = record.entries;
  known.metric_values = 0;

  // A parent that already ended (records salvaged after its agent was lost) takes the
  // child with it at once.
  const RunStatus parent_status = known_[root_id_].status;
  if (common::IsTerminal(parent_status)) {
    RETURN_IF_ERROR(endings_.end_children(txn_, root_id_, parent_status));
    known_[child_id].status = parent_status;
  }
  return absl::OkStatus();
}

std::string RecordPass::Explanations() const {
  if (refused_ <= kMaxExplainedLines) return errors_;
  return absl::StrCat(errors_, records_path_, ": ", refused_ - kMaxExplainedLines,
                      " more line(s) refused, the last at byte ", last_unexplained_, "\n");
}

}  // namespace runyard::server
