// One pass of the in-run API's record ingestion (server/control_plane_run_records.cc reads
// the bytes; this applies them): complete record lines become metrics, tags, properties,
// child runs and the outcome the script asked for, all in the one transaction `txn`.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "runyard/v1/run.pb.h"
#include "server/run_records.h"
#include "server/store.h"

namespace runyard::server {

// The per-run ceilings a pass enforces (ControlPlaneOptions' max_*_per_run).
struct RecordLimits {
  int64_t max_metric_values_per_run = 0;
  int64_t max_children_per_run = 0;
  int64_t max_tags_per_run = 0;
};

// What a pass asks of the control plane: statuses are written through it, so that a
// terminal one ends the run's children too (ControlPlane::TransitionAt / EndChildren).
struct RunEndings {
  // Records `status` of `run_id` at `time_ms` in the store given.
  std::function<absl::Status(Store&, const std::string& run_id, runyard::v1::RunStatus status,
                             int64_t time_ms)>
      transition_at;
  // Gives the unfinished children of `parent_run_id` its terminal `status`.
  std::function<absl::Status(Store&, const std::string& parent_run_id,
                             runyard::v1::RunStatus status)>
      end_children;
};

// One transaction's worth of record lines, applied to `txn`. Refused lines are collected
// (with their byte offsets) to be explained once the transaction has committed.
class RecordPass {
 public:
  // `node_rank`: whose record channel the lines are (a distributed run's node k > 0 writes
  // its own, system_logs/node_<k>/run_records.jsonl; 0 is the run's).
  RecordPass(Store& txn, const std::string& run_id, const RecordLimits& limits,
             const common::Clock* clock, RunEndings endings, int node_rank = 0);

  // `lines`: complete lines (the last ends with '\n') starting at byte `base` of the file.
  // Also moves the run's ingested offset past them.
  absl::Status Apply(int64_t base, std::string_view lines);

  // Why lines were refused, one per line ("system_logs/run_records.jsonl byte N: why"),
  // the first kMaxExplainedLines of them and then a count of the others.
  std::string Explanations() const;
  int refused() const { return refused_; }
  bool runs_changed() const { return runs_changed_; }
  bool cancel_asked() const { return cancel_asked_; }
  int64_t values() const { return values_; }

 private:
  // What the pass knows of a run it writes to: the root and its children.
  struct Known {
    runyard::v1::RunStatus status = runyard::v1::RUN_STATUS_UNSPECIFIED;
    std::map<std::string, std::string> tags;
    std::map<std::string, std::string> properties;
    int64_t metric_values = -1;  // read when first needed
  };

  void Remember(const runyard::v1::Run& run);
  void Refuse(int64_t at, absl::string_view why);
  int64_t TimeMs(double seconds) const;
  absl::StatusOr<Known*> Target(int64_t at, const std::string& run_id);
  absl::Status ApplyRecord(int64_t at, RunRecord& record);
  absl::Status AddMetric(int64_t at, const std::string& run_id, Known& target, RunRecord& record);
  bool Fits(int64_t at, const std::string& run_id,
            const std::map<std::string, std::string>& current,
            const std::map<std::string, std::string>& entries, absl::string_view what);
  absl::Status AddTags(int64_t at, const std::string& run_id, Known& target,
                       const std::map<std::string, std::string>& tags);
  absl::Status AddProperties(int64_t at, const std::string& run_id, Known& target,
                             const std::map<std::string, std::string>& properties);
  absl::Status SetStatus(const std::string& run_id, Known& target, const RunRecord& record);
  absl::Status CreateChild(int64_t at, const RunRecord& record);

  Store& txn_;
  const std::string root_id_;
  const RecordLimits limits_;
  const common::Clock* clock_;
  const RunEndings endings_;
  const int node_rank_;
  const std::string records_path_;  // the channel's name, in explanations
  std::string experiment_;
  std::string target_;

  std::map<std::string, Known> known_;
  std::vector<MetricAppend> appends_;
  std::map<std::pair<std::string, std::string>, size_t> series_;  // (run, name) -> appends_
  int64_t children_ = -1;  // the root's, read when first needed
  int64_t values_ = 0;

  std::string errors_;
  int refused_ = 0;
  int64_t last_unexplained_ = 0;
  bool runs_changed_ = false;
  bool cancel_asked_ = false;
};

}  // namespace runyard::server
