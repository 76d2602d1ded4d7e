// SqliteConnectionStore's part for the in-run API (issue 15): metric series, tags,
// properties, children, the record channel's offset, requested outcomes and experiments.

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/sqlite_connection_store.h"
#include "server/sqlite_run_entries.h"

namespace runyard::server {
namespace {

// MetricValues with no positive limit: a page the size GetMetrics hands out by default.
constexpr int kDefaultValuePage = 10000;

absl::Status RunNotFound(const std::string& run_id) {
  return absl::NotFoundError(absl::StrCat("run '", run_id, "' not found"));
}

absl::Status CheckRunExists(Database& db, const std::string& run_id) {
  Statement select = db.Prepare("SELECT 1 FROM runs WHERE run_id = ?");
  select.Bind(1, run_id);
  if (select.Step()) return absl::OkStatus();
  RETURN_IF_ERROR(select.status());
  return RunNotFound(run_id);
}

// How metric_values.number keeps a NaN.
constexpr char kNaNText[] = "NaN";

// What metric_series holds of a series that an append continues.
struct SeriesState {
  int64_t series_id = 0;
  int64_t count = 0;
  std::optional<double> min;
  std::optional<double> max;
};

absl::StatusOr<std::optional<SeriesState>> FindSeries(Database& db, const std::string& run_id,
                                                      const std::string& name) {
  Statement select = db.Prepare(
      "SELECT series_id, count, min, max FROM metric_series WHERE run_id = ? AND name = ?");
  select.Bind(1, run_id).Bind(2, name);
  if (!select.Step()) {
    RETURN_IF_ERROR(select.status());
    return std::optional<SeriesState>();
  }
  SeriesState state;
  state.series_id = select.Int(0);
  state.count = select.Int(1);
  if (!select.IsNull(2)) state.min = select.Double(2);
  if (!select.IsNull(3)) state.max = select.Double(3);
  return std::optional<SeriesState>(state);
}

absl::StatusOr<SeriesState> CreateSeries(Database& db, const MetricAppend& append) {
  RETURN_IF_ERROR(CheckRunExists(db, append.run_id));
  Statement insert = db.Prepare(
      "INSERT INTO metric_series(run_id, name, kind, description, count) "
      "VALUES(?, ?, ?, ?, 0) RETURNING series_id");
  insert.Bind(1, append.run_id)
      .Bind(2, append.name)
      .Bind(3, append.values.front().kind())
      .Bind(4, append.description);
  if (!insert.Step()) {
    RETURN_IF_ERROR(insert.status());
    return absl::InternalError("sqlite: INSERT ... RETURNING gave no row");
  }
  SeriesState state;
  state.series_id = insert.Int(0);
  // Steps to the end: RETURNING's write completes when the statement does.
  RETURN_IF_ERROR(insert.Run());
  return state;
}

absl::Status AppendToSeries(Database& db, const MetricAppend& append) {
  if (append.values.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::optional<SeriesState> found, FindSeries(db, append.run_id, append.name));
  SeriesState series;
  if (found) {
    series = *found;
  } else {
    ASSIGN_OR_RETURN(series, CreateSeries(db, append));
  }
  // One statement bound again for every value: borrowing it from the cache per value would
  // cost as much as the insert.
  Statement insert = db.Prepare(
      "INSERT INTO metric_values(series_id, seq, kind, step, number, text, json, wall_time, "
      "rank) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  insert.Bind(1, series.series_id);
  for (const runyard::v1::MetricValue& value : append.values) {
    insert.Bind(2, series.count++).Bind(3, value.kind());
    if (value.has_step()) {
      insert.Bind(4, value.step());
    } else {
      insert.BindNull(4);
    }
    insert.BindNull(5).BindNull(6).BindNull(7);
    switch (value.value_case()) {
      case runyard::v1::MetricValue::kNumber:
        if (std::isnan(value.number())) {
          // SQLite would keep a bound NaN as NULL (no value at all): the REAL column holds
          // the text 'NaN' instead, which no number read back can be. ±Inf are REALs.
          insert.Bind(5, kNaNText);
          break;  // no order: left out of min and max
        }
        insert.BindDouble(5, value.number());
        series.min = std::min(series.min.value_or(value.number()), value.number());
        series.max = std::max(series.max.value_or(value.number()), value.number());
        break;
      case runyard::v1::MetricValue::kText:
        insert.Bind(6, value.text());
        break;
      case runyard::v1::MetricValue::kJson:
        insert.Bind(7, value.json());
        break;
      case runyard::v1::MetricValue::VALUE_NOT_SET:
        break;
    }
    insert.BindDouble(8, value.wall_time());
    if (value.has_rank()) {
      insert.Bind(9, static_cast<int64_t>(value.rank()));
    } else {
      insert.BindNull(9);
    }
    RETURN_IF_ERROR(insert.Run());
    insert.Reset();
  }
  Statement update =
      db.Prepare("UPDATE metric_series SET count = ?, min = ?, max = ? WHERE series_id = ?");
  update.Bind(1, series.count);
  if (series.min) {
    update.BindDouble(2, *series.min).BindDouble(3, *series.max);
  } else {
    update.BindNull(2).BindNull(3);
  }
  update.Bind(4, series.series_id);
  return update.Run();
}

// The columns of metric_values a MetricValue is made of, from `first` on (the one before
// the last says whether `number` holds kNaNText; the last is the rank), for a table named `v`.
constexpr char kValueColumns[] =
    "v.seq, v.kind, v.step, v.number, v.text, v.json, v.wall_time, typeof(v.number) = 'text', "
    "v.rank";

runyard::v1::MetricValue ValueFromRow(const Statement& row, int first) {
  runyard::v1::MetricValue value;
  value.set_seq(row.Int(first));
  value.set_kind(row.Text(first + 1));
  if (!row.IsNull(first + 2)) {
    value.set_has_step(true);
    value.set_step(row.Int(first + 2));
  }
  if (row.Int(first + 7) != 0) {
    value.set_number(std::numeric_limits<double>::quiet_NaN());
  } else if (!row.IsNull(first + 3)) {
    value.set_number(row.Double(first + 3));
  } else if (!row.IsNull(first + 4)) {
    value.set_text(row.Text(first + 4));
  } else if (!row.IsNull(first + 5)) {
    value.set_json(row.Text(first + 5));
  }
  value.set_wall_time(row.Double(first + 6));
  if (!row.IsNull(first + 8)) value.set_rank(static_cast<int32_t>(row.Int(first + 8)));
  return value;
}

// Makes sure run_api_state has the run's row (with its defaults), for an UPDATE of one column.
absl::Status EnsureApiState(Database& db, const std::string& run_id) {
  RETURN_IF_ERROR(CheckRunExists(db, run_id));
  Statement insert = db.Prepare("INSERT OR IGNORE INTO run_api_state(run_id) VALUES(?)");
  insert.Bind(1, run_id);
  return insert.Run();
}

}  // namespace

absl::Status SqliteConnectionStore::AppendMetrics(const std::vector<MetricAppend>& appends) {
  return InTransaction([&](Store&) -> absl::Status {
    for (const MetricAppend& append : appends) RETURN_IF_ERROR(AppendToSeries(db_, append));
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<runyard::v1::MetricSeries>> SqliteConnectionStore::MetricSummaries(
    const std::string& run_id, const std::string& name) {
  // The last value is the one numbered count - 1: a key lookup per series.
  Statement select = db_.Prepare(
      absl::StrCat("SELECT s.name, s.kind, s.description, s.count, s.min, s.max, ", kValueColumns,
                   " FROM metric_series s LEFT JOIN metric_values v "
                   "ON v.series_id = s.series_id AND v.seq = s.count - 1 "
                   "WHERE s.run_id = ?1 AND (?2 = '' OR s.name = ?2) ORDER BY s.name"));
  select.Bind(1, run_id).Bind(2, name);
  std::vector<runyard::v1::MetricSeries> series;
  while (select.Step()) {
    runyard::v1::MetricSeries summary;
    summary.set_run_id(run_id);
    summary.set_name(select.Text(0));
    summary.set_kind(select.Text(1));
    summary.set_description(select.Text(2));
    summary.set_count(select.Int(3));
    if (!select.IsNull(4)) {
      summary.set_has_numbers(true);
      summary.set_min(select.Double(4));
      summary.set_max(select.Double(5));
    }
    if (!select.IsNull(6)) *summary.mutable_last() = ValueFromRow(select, 6);
    series.push_back(std::move(summary));
  }
  RETURN_IF_ERROR(select.status());
  return series;
}

absl::StatusOr<std::vector<runyard::v1::MetricValue>> SqliteConnectionStore::MetricValues(
    const std::string& run_id, const std::string& name, int64_t after_seq, int limit) {
  Statement select = db_.Prepare(
      absl::StrCat("SELECT ", kValueColumns,
                   " FROM metric_values v WHERE series_id = "
                   "(SELECT series_id FROM metric_series WHERE run_id = ? AND name = ?) "
                   "AND seq >= ? ORDER BY seq LIMIT ?"));
  select.Bind(1, run_id)
      .Bind(2, name)
      .Bind(3, after_seq)
      .Bind(4, static_cast<int64_t>(limit > 0 ? limit : kDefaultValuePage));
  std::vector<runyard::v1::MetricValue> values;
  while (select.Step()) values.push_back(ValueFromRow(select, 0));
  RETURN_IF_ERROR(select.status());
  return values;
}

absl::StatusOr<int64_t> SqliteConnectionStore::CountMetricValues(const std::string& run_id) {
  Statement select =
      db_.Prepare("SELECT COALESCE(SUM(count), 0) FROM metric_series WHERE run_id = ?");
  select.Bind(1, run_id);
  if (!select.Step()) {
    RETURN_IF_ERROR(select.status());
    return 0;
  }
  return select.Int(0);
}

absl::Status SqliteConnectionStore::SetTags(const std::string& run_id,
                                            const std::map<std::string, std::string>& tags,
                                            const std::vector<std::string>& remove) {
  return InTransaction([&](Store&) -> absl::Status {
    RETURN_IF_ERROR(CheckRunExists(db_, run_id));
    RETURN_IF_ERROR(UpsertRunEntries(db_, "run_tags", run_id, tags));
    Statement erase = db_.Prepare("DELETE FROM run_tags WHERE run_id = ? AND key = ?");
    erase.Bind(1, run_id);
    for (const std::string& key : remove) {
      RETURN_IF_ERROR(erase.Bind(2, key).Run());
      erase.Reset();
    }
    return absl::OkStatus();
  });
}

absl::Status SqliteConnectionStore::AddProperties(
    const std::string& run_id, const std::map<std::string, std::string>& properties) {
  return InTransaction([&](Store&) -> absl::Status {
    RETURN_IF_ERROR(CheckRunExists(db_, run_id));
    std::map<std::string, std::string> existing;
    RETURN_IF_ERROR(LoadRunEntries(db_, "run_properties", run_id, &existing));
    // Every key checked before any is written: a refused call changes nothing.
    for (const auto& [key, value] : properties) {
      auto found = existing.find(key);
      if (found != existing.end() && found->second != value) {
        return absl::FailedPreconditionError(
            absl::StrCat("property '", key, "' is already set to '", found->second, "'"));
      }
    }
    return UpsertRunEntries(db_, "run_properties", run_id, properties);
  });
}

absl::StatusOr<std::vector<std::string>> SqliteConnectionStore::ChildRuns(
    const std::string& parent_run_id) {
  if (parent_run_id.empty()) return std::vector<std::string>();  // "" marks no parent
  // rowid: creation order among children created in the same millisecond.
  Statement select =
      db_.Prepare("SELECT run_id FROM runs WHERE parent_run_id = ? ORDER BY created_ms, rowid");
  select.Bind(1, parent_run_id);
  std::vector<std::string> children;
  while (select.Step()) children.push_back(select.Text(0));
  RETURN_IF_ERROR(select.status());
  return children;
}

absl::StatusOr<int64_t> SqliteConnectionStore::RecordsIngested(const std::string& run_id) {
  Statement select = db_.Prepare("SELECT records_ingested FROM run_api_state WHERE run_id = ?");
  select.Bind(1, run_id);
  if (select.Step()) return select.Int(0);
  RETURN_IF_ERROR(select.status());
  return 0;
}

absl::Status SqliteConnectionStore::SetRecordsIngested(const std::string& run_id, int64_t offset) {
  return InTransaction([&](Store&) -> absl::Status {
    RETURN_IF_ERROR(EnsureApiState(db_, run_id));
    Statement update =
        db_.Prepare("UPDATE run_api_state SET records_ingested = ? WHERE run_id = ?");
    update.Bind(1, offset).Bind(2, run_id);
    return update.Run();
  });
}

absl::StatusOr<int64_t> SqliteConnectionStore::NodeRecordsIngested(const std::string& run_id,
                                                                   int node_rank) {
  if (node_rank == 0) return RecordsIngested(run_id);
  Statement select = db_.Prepare(
      "SELECT records_ingested FROM run_node_records WHERE run_id = ? AND node_rank = ?");
  select.Bind(1, run_id).Bind(2, static_cast<int64_t>(node_rank));
  if (select.Step()) return select.Int(0);
  RETURN_IF_ERROR(select.status());
  return 0;
}

absl::Status SqliteConnectionStore::SetNodeRecordsIngested(const std::string& run_id,
                                                           int node_rank, int64_t offset) {
  if (node_rank == 0) return SetRecordsIngested(run_id, offset);
  RETURN_IF_ERROR(CheckRunExists(db_, run_id));
  Statement upsert = db_.Prepare(
      "INSERT INTO run_node_records(run_id, node_rank, records_ingested) VALUES(?1, ?2, ?3) "
      "ON CONFLICT(run_id, node_rank) DO UPDATE SET records_ingested = ?3");
  upsert.Bind(1, run_id).Bind(2, static_cast<int64_t>(node_rank)).Bind(3, offset);
  return upsert.Run();
}

absl::Status SqliteConnectionStore::SetRequestedOutcome(const std::string& run_id,
                                                        const RequestedOutcome& outcome) {
  return InTransaction([&](Store&) -> absl::Status {
    RETURN_IF_ERROR(EnsureApiState(db_, run_id));
    Statement update = db_.Prepare(
        "UPDATE run_api_state SET requested_status = ?, requested_error = ? WHERE run_id = ?");
    update.Bind(1, static_cast<int64_t>(outcome.status))
        .BindBlob(2, outcome.error.SerializeAsString())
        .Bind(3, run_id);
    return update.Run();
  });
}

absl::StatusOr<RequestedOutcome> SqliteConnectionStore::GetRequestedOutcome(
    const std::string& run_id) {
  Statement select =
      db_.Prepare("SELECT requested_status, requested_error FROM run_api_state WHERE run_id = ?");
  select.Bind(1, run_id);
  RequestedOutcome outcome;
  if (select.Step()) {
    outcome.status = static_cast<runyard::v1::RunStatus>(select.Int(0));
    outcome.error.ParseFromString(select.Text(1));
  }
  RETURN_IF_ERROR(select.status());
  return outcome;
}

absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>> SqliteConnectionStore::ListExperiments(
    bool include_archived) {
  // One grouped query. It counts created_ms (never NULL), not run_id: then
  // runs_by_experiment(experiment, created_ms) covers it, each experiment an index range.
  Statement select = db_.Prepare(
      "SELECT e.name, e.created_ms, e.archived, COUNT(r.created_ms), "
      "COALESCE(MAX(r.created_ms), 0) "
      "FROM experiments e LEFT JOIN runs r ON r.experiment = e.name "
      "WHERE ?1 OR NOT e.archived GROUP BY e.name ORDER BY e.name");
  select.Bind(1, include_archived ? 1 : 0);
  std::vector<runyard::v1::ExperimentInfo> experiments;
  while (select.Step()) {
    runyard::v1::ExperimentInfo info;
    info.set_name(select.Text(0));
    info.set_created_unix_ms(select.Int(1));
    info.set_archived(select.Int(2) != 0);
    info.set_run_count(select.Int(3));
    info.set_last_run_unix_ms(select.Int(4));
    experiments.push_back(std::move(info));
  }
  RETURN_IF_ERROR(select.status());
  return experiments;
}

absl::Status SqliteConnectionStore::SetExperimentArchived(const std::string& name, bool archived) {
  return InTransaction([&](Store&) -> absl::Status {
    Statement select = db_.Prepare("SELECT 1 FROM experiments WHERE name = ?");
    select.Bind(1, name);
    if (!select.Step()) {
      RETURN_IF_ERROR(select.status());
      return absl::NotFoundError(absl::StrCat("experiment '", name, "' not found"));
    }
    Statement update = db_.Prepare("UPDATE experiments SET archived = ? WHERE name = ?");
    update.Bind(1, archived ? 1 : 0).Bind(2, name);
    return update.Run();
  });
}

}  // namespace runyard::server
