// `runyard metrics RUN [--name N] [--json] [-f]`: the run's metric series as a table with a
// sparkline each, one series' values, or every value as one JSON document; -f follows a
// live run by polling GetMetrics every 250 ms until the run has ended.
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cli/command_support.h"
#include "cli/commands.h"
#include "cli/metric_fetch.h"
#include "cli/metric_render.h"
#include "cli/sparkline.h"
#include "common/status_names.h"

namespace runyard::cli {
namespace {

constexpr int kSparklineColumns = 40;
// Polling, not Watch: metrics arrive without a status change, and a poll of the summaries
// is one small call.
constexpr auto kFollowInterval = std::chrono::milliseconds(250);

std::string Compact(const nlohmann::json& json) {
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::StatusOr<std::string> RenderTable(RunBackend& backend, const std::string& run_id,
                                        const std::vector<runyard::v1::MetricSeries>& series) {
  std::map<std::string, std::string> sparklines;
  for (const auto& one : series) {
    absl::StatusOr<std::vector<double>> numbers =
        SparklineSamples(backend, run_id, one, kSparklineColumns);
    if (!numbers.ok()) return numbers.status();
    if (!numbers->empty()) sparklines[one.name()] = Sparkline(*numbers, kSparklineColumns);
  }
  return MetricsTable(series, sparklines);
}

int PrintTable(RunBackend& backend, const std::string& run_id) {
  absl::StatusOr<std::vector<runyard::v1::MetricSeries>> series = FetchSeries(backend, run_id);
  if (!series.ok()) return Fail(series.status());
  if (series->empty()) {
    std::cerr << "runyard: run " << run_id << " has logged no metrics\n";
    return 0;
  }
  absl::StatusOr<std::string> table = RenderTable(backend, run_id, *series);
  if (!table.ok()) return Fail(table.status());
  std::cout << *table << std::flush;
  return 0;
}

int PrintSeriesValues(RunBackend& backend, const std::string& run_id, const std::string& name) {
  absl::StatusOr<std::vector<runyard::v1::MetricSeries>> series =
      FetchSeries(backend, run_id, name);
  if (!series.ok()) return Fail(series.status());
  std::cout << SeriesHeading(series->front());
  absl::StatusOr<int64_t> read = ForEachValuePage(backend, run_id, name, 0, [](const auto& values) {
    for (const auto& value : values) std::cout << SeriesValueRow(value);
    return absl::OkStatus();
  });
  std::cout << std::flush;
  return read.ok() ? 0 : Fail(read.status());
}

// One JSON document, written as it is read: {"run_id", "series": [{summary..., "values":
// [...]}]}; a million values never sit in memory at once.
int PrintJsonDocument(RunBackend& backend, const std::string& run_id, const std::string& name) {
  absl::StatusOr<std::vector<runyard::v1::MetricSeries>> series =
      FetchSeries(backend, run_id, name);
  if (!series.ok()) return Fail(series.status());
  std::cout << "{\"run_id\": " << Compact(run_id) << ", \"series\": [";
  bool first_series = true;
  for (const auto& one : *series) {
    nlohmann::json summary = SeriesSummaryToJson(one);
    std::string head = Compact(summary);
    head.pop_back();  // the closing brace: the values follow
    std::cout << (first_series ? "\n" : ",\n") << head << ", \"values\": [";
    first_series = false;
    bool first_value = true;
    absl::StatusOr<int64_t> read =
        ForEachValuePage(backend, run_id, one.name(), 0, [&](const auto& values) {
          for (const auto& value : values) {
            std::cout << (first_value ? "\n" : ",\n") << Compact(MetricValueToJson(value));
            first_value = false;
          }
          return absl::OkStatus();
        });
    // The document is cut short: say so on stderr and fail, so no one takes it for whole.
    if (!read.ok()) return Fail(read.status());
    std::cout << "]}";
  }
  std::cout << "]}" << std::endl;
  return 0;
}

// Follows a live run: the caller's `poll` is called every 250 ms, and once more after
// the run is seen ended (everything it logged was committed before it ended).
absl::StatusOr<runyard::v1::Run> PollUntilEnded(RunBackend& backend, const std::string& run_id,
                                                const std::function<absl::Status()>& poll) {
  while (true) {
    absl::StatusOr<runyard::v1::Run> run = backend.Get(run_id);  // before the poll: ended means all
    if (!run.ok()) return run.status();
    if (absl::Status ok = poll(); !ok.ok()) return ok;
    if (common::IsTerminal(run->status())) return run;
    std::this_thread::sleep_for(kFollowInterval);
  }
}

int FollowTable(RunBackend& backend, const std::string& run_id) {
  const bool terminal = ::isatty(STDOUT_FILENO) != 0;
  std::string shown;
  absl::StatusOr<runyard::v1::Run> run = PollUntilEnded(backend, run_id, [&]() -> absl::Status {
    absl::StatusOr<std::vector<runyard::v1::MetricSeries>> series = FetchSeries(backend, run_id);
    if (!series.ok()) return series.status();
    absl::StatusOr<std::string> table = RenderTable(backend, run_id, *series);
    if (!table.ok()) return table.status();
    if (*table == shown || series->empty()) return absl::OkStatus();
    shown = *table;
    // A terminal gets the table redrawn in place; a pipe gets each new table after the last.
    std::cout << (terminal ? "\x1b[H\x1b[2J" : "\n") << shown << std::flush;
    return absl::OkStatus();
  });
  if (!run.ok()) return Fail(run.status());
  if (shown.empty()) std::cerr << "runyard: run " << run_id << " logged no metrics\n";
  std::cerr << "runyard: " << run_id << " " << common::StatusName(run->status()) << "\n";
  return 0;
}

// New values as they come: rows of the named series, or under --json one line per value
// ({"name", "seq", ...}) of every series (JSON lines).
int FollowValues(RunBackend& backend, const std::string& run_id, const std::string& name,
                 bool json) {
  std::map<std::string, int64_t> next;  // series name -> first seq not yet printed
  bool heading_printed = false;
  absl::StatusOr<runyard::v1::Run> run = PollUntilEnded(backend, run_id, [&]() -> absl::Status {
    absl::StatusOr<std::vector<runyard::v1::MetricSeries>> series = FetchSeries(backend, run_id);
    if (!series.ok()) return series.status();
    for (const auto& one : *series) {
      if (!name.empty() && one.name() != name) continue;
      int64_t& from = next[one.name()];
      if (one.count() <= from) continue;  // nothing new
      if (!json && !heading_printed) {
        std::cout << SeriesHeading(one, /*with_counts=*/false);
        heading_printed = true;
      }
      absl::StatusOr<int64_t> read =
          ForEachValuePage(backend, run_id, one.name(), from, [&](const auto& values) {
            for (const auto& value : values) {
              if (json) {
                nlohmann::json line = MetricValueToJson(value);
                line["name"] = one.name();
                std::cout << Compact(line) << "\n";
              } else {
                std::cout << SeriesValueRow(value);
              }
            }
            return absl::OkStatus();
          });
      if (!read.ok()) return read.status();
      from = *read;
    }
    std::cout << std::flush;
    return absl::OkStatus();
  });
  if (!run.ok()) return Fail(run.status());
  if (!json && !heading_printed) {
    std::cerr << "runyard: run " << run_id << " logged no metric"
              << (name.empty() ? "s" : " named '" + name + "'") << "\n";
  }
  if (!json) std::cerr << "runyard: " << run_id << " " << common::StatusName(run->status()) << "\n";
  return 0;
}

}  // namespace

int MetricsCommand(const GlobalOptions& global, const MetricsOptions& options) {
  absl::StatusOr<std::unique_ptr<RunBackend>> backend = BackendForRun(global, options.run_id);
  if (!backend.ok()) return Fail(backend.status());
  RunBackend& runs = **backend;
  if (options.follow) {
    if (global.json || !options.name.empty())
      return FollowValues(runs, options.run_id, options.name, global.json);
    return FollowTable(runs, options.run_id);
  }
  if (global.json) return PrintJsonDocument(runs, options.run_id, options.name);
  if (!options.name.empty()) return PrintSeriesValues(runs, options.run_id, options.name);
  return PrintTable(runs, options.run_id);
}

}  // namespace runyard::cli
