// `runyard metrics RUN [--name N] [--rank R] [--json] [-f]`: the run's metric series as a
// table with a sparkline each, one series' values, or every value as one JSON document; -f
// follows a live run by polling GetMetrics every 250 ms until the run has ended. A
// distributed run's values carry the rank that logged them: the table gets a RANKS column,
// the values a RANK column, and --rank R keeps only rank R's values (summaries over them).
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <map>
#include <set>
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

bool OfRank(const runyard::v1::MetricValue& value, int rank) {
  return rank < 0 || (value.has_rank() && value.rank() == rank);
}

// The table; with `rank` >= 0 only that rank's series and values ("" when it logged none).
absl::StatusOr<std::string> RenderTable(RunBackend& backend, const std::string& run_id,
                                        const std::vector<runyard::v1::MetricSeries>& series,
                                        int rank) {
  std::map<std::string, std::string> sparklines;
  if (rank >= 0) {
    std::vector<runyard::v1::MetricSeries> of_rank;
    for (const auto& one : series) {
      std::vector<double> numbers;
      absl::StatusOr<runyard::v1::MetricSeries> mine =
          RankSeries(backend, run_id, one, rank, &numbers);
      if (!mine.ok()) return mine.status();
      if (mine->count() == 0) continue;
      if (mine->has_numbers()) sparklines[one.name()] = Sparkline(numbers, kSparklineColumns);
      of_rank.push_back(*std::move(mine));
    }
    return of_rank.empty() ? "" : MetricsTable(of_rank, sparklines);
  }
  std::map<std::string, std::string> ranks;
  for (const auto& one : series) {
    std::set<int32_t> logged_by;
    absl::StatusOr<std::vector<double>> numbers =
        SparklineSamples(backend, run_id, one, kSparklineColumns, &logged_by);
    if (!numbers.ok()) return numbers.status();
    if (!numbers->empty()) sparklines[one.name()] = Sparkline(*numbers, kSparklineColumns);
    if (!logged_by.empty()) ranks[one.name()] = RankRanges(logged_by);
  }
  return MetricsTable(series, sparklines, ranks);
}

std::string NoMetrics(const std::string& run_id, int rank, const std::string& name = "") {
  std::string text = absl::StrCat("runyard: run ", run_id, " has logged no metric",
                                  name.empty() ? "s" : absl::StrCat(" values of '", name, "'"));
  if (rank >= 0) absl::StrAppend(&text, " from rank ", rank);
  return text + "\n";
}

int PrintTable(RunBackend& backend, const std::string& run_id, int rank) {
  absl::StatusOr<std::vector<runyard::v1::MetricSeries>> series = FetchSeries(backend, run_id);
  if (!series.ok()) return Fail(series.status());
  absl::StatusOr<std::string> table =
      series->empty() ? std::string() : RenderTable(backend, run_id, *series, rank);
  if (!table.ok()) return Fail(table.status());
  if (table->empty()) {
    std::cerr << NoMetrics(run_id, rank);
    return 0;
  }
  std::cout << *table << std::flush;
  return 0;
}

int PrintSeriesValues(RunBackend& backend, const std::string& run_id, const std::string& name,
                      int rank) {
  absl::StatusOr<std::vector<runyard::v1::MetricSeries>> series =
      FetchSeries(backend, run_id, name);
  if (!series.ok()) return Fail(series.status());
  // A distributed run's series shows who logged each value; --rank shows one rank's.
  const bool with_rank = rank < 0 && series->front().last().has_rank();
  if (rank >= 0) {
    absl::StatusOr<runyard::v1::MetricSeries> mine =
        RankSeries(backend, run_id, series->front(), rank);
    if (!mine.ok()) return Fail(mine.status());
    if (mine->count() == 0) {
      std::cerr << NoMetrics(run_id, rank, name);
      return 0;
    }
    std::cout << SeriesHeading(*mine, /*with_counts=*/true, /*with_rank=*/false, rank);
  } else {
    std::cout << SeriesHeading(series->front(), /*with_counts=*/true, with_rank);
  }
  absl::StatusOr<int64_t> read =
      ForEachValuePage(backend, run_id, name, 0, [&](const auto& values) {
        for (const auto& value : values) {
          if (OfRank(value, rank)) std::cout << SeriesValueRow(value, with_rank);
        }
        return absl::OkStatus();
      });
  std::cout << std::flush;
  return read.ok() ? 0 : Fail(read.status());
}

// One JSON document, written as it is read: {"run_id", "series": [{summary..., "values":
// [...]}]}; a million values never sit in memory at once. With `rank` >= 0 the document
// says "rank": R, and has only the series that rank logged, each summed up over its values.
int PrintJsonDocument(RunBackend& backend, const std::string& run_id, const std::string& name,
                      int rank) {
  absl::StatusOr<std::vector<runyard::v1::MetricSeries>> series =
      FetchSeries(backend, run_id, name);
  if (!series.ok()) return Fail(series.status());
  std::cout << "{\"run_id\": " << Compact(run_id);
  if (rank >= 0) std::cout << ", \"rank\": " << rank;
  std::cout << ", \"series\": [";
  bool first_series = true;
  for (const auto& whole : *series) {
    runyard::v1::MetricSeries one = whole;
    if (rank >= 0) {
      absl::StatusOr<runyard::v1::MetricSeries> mine = RankSeries(backend, run_id, whole, rank);
      if (!mine.ok()) return Fail(mine.status());
      if (mine->count() == 0) continue;
      one = *std::move(mine);
    }
    nlohmann::json summary = SeriesSummaryToJson(one);
    std::string head = Compact(summary);
    head.pop_back();  // the closing brace: the values follow
    std::cout << (first_series ? "\n" : ",\n") << head << ", \"values\": [";
    first_series = false;
    bool first_value = true;
    absl::StatusOr<int64_t> read =
        ForEachValuePage(backend, run_id, one.name(), 0, [&](const auto& values) {
          for (const auto& value : values) {
            if (!OfRank(value, rank)) continue;
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

int FollowTable(RunBackend& backend, const std::string& run_id, int rank) {
  const bool terminal = ::isatty(STDOUT_FILENO) != 0;
  std::string shown;
  absl::StatusOr<runyard::v1::Run> run = PollUntilEnded(backend, run_id, [&]() -> absl::Status {
    absl::StatusOr<std::vector<runyard::v1::MetricSeries>> series = FetchSeries(backend, run_id);
    if (!series.ok()) return series.status();
    absl::StatusOr<std::string> table = RenderTable(backend, run_id, *series, rank);
    if (!table.ok()) return table.status();
    if (*table == shown || table->empty()) return absl::OkStatus();
    shown = *table;
    // A terminal gets the table redrawn in place; a pipe gets each new table after the last.
    std::cout << (terminal ? "\x1b[H\x1b[2J" : "\n") << shown << std::flush;
    return absl::OkStatus();
  });
  if (!run.ok()) return Fail(run.status());
  if (shown.empty()) std::cerr << NoMetrics(run_id, rank);
  std::cerr << "runyard: " << run_id << " " << common::StatusName(run->status()) << "\n";
  return 0;
}

// New values as they come: rows of the named series, or under --json one line per value
// ({"name", "seq", ...}) of every series (JSON lines).
int FollowValues(RunBackend& backend, const std::string& run_id, const std::string& name, bool json,
                 int rank) {
  std::map<std::string, int64_t> next;  // series name -> first seq not yet printed
  bool heading_printed = false;
  bool with_rank = false;  // the RANK column: a distributed run's series, all ranks shown
  absl::StatusOr<runyard::v1::Run> run = PollUntilEnded(backend, run_id, [&]() -> absl::Status {
    absl::StatusOr<std::vector<runyard::v1::MetricSeries>> series = FetchSeries(backend, run_id);
    if (!series.ok()) return series.status();
    for (const auto& one : *series) {
      if (!name.empty() && one.name() != name) continue;
      int64_t& from = next[one.name()];
      if (one.count() <= from) continue;  // nothing new
      if (!json && !heading_printed) {
        with_rank = rank < 0 && one.last().has_rank();
        std::cout << SeriesHeading(one, /*with_counts=*/false, with_rank, rank);
        heading_printed = true;
      }
      absl::StatusOr<int64_t> read =
          ForEachValuePage(backend, run_id, one.name(), from, [&](const auto& values) {
            for (const auto& value : values) {
              if (!OfRank(value, rank)) continue;
              if (json) {
                nlohmann::json line = MetricValueToJson(value);
                line["name"] = one.name();
                std::cout << Compact(line) << "\n";
              } else {
                std::cout << SeriesValueRow(value, with_rank);
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
      return FollowValues(runs, options.run_id, options.name, global.json, options.rank);
    return FollowTable(runs, options.run_id, options.rank);
  }
  if (global.json) return PrintJsonDocument(runs, options.run_id, options.name, options.rank);
  if (!options.name.empty())
    return PrintSeriesValues(runs, options.run_id, options.name, options.rank);
  return PrintTable(runs, options.run_id, options.rank);
}

}  // namespace runyard::cli
