#include "cli/metric_fetch.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace runyard::cli {
namespace {

constexpr int kPageValues = 10000;
constexpr int64_t kSampleEverythingUpTo = 20000;
constexpr int kSamplePerColumn = 200;

// One page of `name`'s values from `from`, at most `max_values`; a page the transport
// refuses as too large is asked for again in halves.
absl::StatusOr<runyard::v1::GetMetricsResponse> Page(RunBackend& backend, const std::string& run_id,
                                                     const std::string& name, int64_t from,
                                                     int max_values) {
  while (true) {
    runyard::v1::GetMetricsRequest request;
    request.set_run_id(run_id);
    request.set_name(name);
    request.set_with_values(true);
    request.set_after_seq(from);
    request.set_max_values(max_values);
    absl::StatusOr<runyard::v1::GetMetricsResponse> response = backend.GetMetrics(request);
    if (!absl::IsResourceExhausted(response.status()) || max_values == 1) return response;
    max_values = std::max(max_values / 2, 1);
  }
}

void AddNumbers(const runyard::v1::MetricSeries& page, std::vector<double>* into) {
  for (const auto& value : page.values()) {
    if (value.value_case() == runyard::v1::MetricValue::kNumber) into->push_back(value.number());
  }
}

}  // namespace

absl::StatusOr<std::vector<runyard::v1::MetricSeries>> FetchSeries(RunBackend& backend,
                                                                   const std::string& run_id,
                                                                   const std::string& name) {
  runyard::v1::GetMetricsRequest request;
  request.set_run_id(run_id);
  request.set_name(name);
  absl::StatusOr<runyard::v1::GetMetricsResponse> response = backend.GetMetrics(request);
  if (!response.ok()) return response.status();
  std::vector<runyard::v1::MetricSeries> series;
  for (const auto& one : response->series()) {
    if (name.empty() || one.name() == name) {
      series.push_back(one);
      series.back().clear_values();
    }
  }
  std::sort(series.begin(), series.end(),
            [](const auto& a, const auto& b) { return a.name() < b.name(); });
  if (!name.empty() && series.empty()) {
    absl::StatusOr<std::vector<runyard::v1::MetricSeries>> all = FetchSeries(backend, run_id);
    if (!all.ok()) return all.status();
    std::vector<std::string> names;
    for (const auto& one : *all) names.push_back(one.name());
    return absl::NotFoundError(
        absl::StrCat("run ", run_id, " has no metric named '", name, "'",
                     names.empty() ? " (it has logged no metrics)"
                                   : absl::StrCat(" (it has: ", absl::StrJoin(names, ", "), ")")));
  }
  return series;
}

absl::StatusOr<int64_t> ForEachValuePage(RunBackend& backend, const std::string& run_id,
                                         const std::string& name, int64_t from,
                                         const ValuePageSink& sink) {
  std::vector<runyard::v1::MetricValue> values;
  while (true) {
    absl::StatusOr<runyard::v1::GetMetricsResponse> page =
        Page(backend, run_id, name, from, kPageValues);
    if (!page.ok()) return page.status();
    values.clear();
    for (const auto& series : page->series()) {
      if (series.name() != name) continue;
      values.assign(series.values().begin(), series.values().end());
    }
    if (!values.empty()) {
      if (absl::Status ok = sink(values); !ok.ok()) return ok;
      from = values.back().seq() + 1;
    }
    // next_seq -1: nothing more now; an empty page also ends it (a server that never says
    // -1 must not loop us forever).
    if (page->next_seq() < 0 || values.empty()) return from;
    from = std::max(from, page->next_seq());
  }
}

absl::StatusOr<std::vector<double>> SparklineSamples(RunBackend& backend, const std::string& run_id,
                                                     const runyard::v1::MetricSeries& series,
                                                     int columns, std::set<int32_t>* ranks) {
  std::vector<double> numbers;
  if (series.count() == 0) return numbers;
  if (ranks != nullptr && series.last().has_rank()) ranks->insert(series.last().rank());
  // Without numbers there is no sparkline; only the ranks are looked for then.
  if (!series.has_numbers() && ranks == nullptr) return numbers;
  if (series.count() <= kSampleEverythingUpTo) {
    absl::StatusOr<int64_t> read =
        ForEachValuePage(backend, run_id, series.name(), 0, [&](const auto& values) {
          for (const auto& value : values) {
            if (value.value_case() == runyard::v1::MetricValue::kNumber)
              numbers.push_back(value.number());
            if (ranks != nullptr && value.has_rank()) ranks->insert(value.rank());
          }
          return absl::OkStatus();
        });
    if (!read.ok()) return read.status();
    if (!series.has_numbers()) numbers.clear();
    return numbers;
  }
  if (!series.has_numbers() && !series.last().has_rank()) return numbers;
  for (int column = 0; column < columns; ++column) {
    const int64_t start = series.count() * column / columns;
    const int64_t share = series.count() * (column + 1) / columns - start;
    absl::StatusOr<runyard::v1::GetMetricsResponse> page =
        Page(backend, run_id, series.name(), start,
             static_cast<int>(std::min<int64_t>(share, kSamplePerColumn)));
    if (!page.ok()) return page.status();
    std::vector<double> sample;
    for (const auto& one : page->series()) {
      if (one.name() != series.name()) continue;
      AddNumbers(one, &sample);
      if (ranks == nullptr) continue;
      for (const auto& value : one.values()) {
        if (value.has_rank()) ranks->insert(value.rank());
      }
    }
    double sum = 0;
    for (double value : sample) sum += value;
    if (!sample.empty()) numbers.push_back(sum / static_cast<double>(sample.size()));
  }
  if (!series.has_numbers()) numbers.clear();
  return numbers;
}

absl::StatusOr<runyard::v1::MetricSeries> RankSeries(RunBackend& backend, const std::string& run_id,
                                                     const runyard::v1::MetricSeries& series,
                                                     int32_t rank, std::vector<double>* numbers) {
  runyard::v1::MetricSeries of_rank;
  of_rank.set_run_id(series.run_id());
  of_rank.set_name(series.name());
  of_rank.set_kind(series.kind());
  of_rank.set_description(series.description());
  int64_t count = 0;
  absl::StatusOr<int64_t> read =
      ForEachValuePage(backend, run_id, series.name(), 0, [&](const auto& values) {
        for (const auto& value : values) {
          if (!value.has_rank() || value.rank() != rank) continue;
          ++count;
          *of_rank.mutable_last() = value;
          if (value.value_case() != runyard::v1::MetricValue::kNumber) continue;
          const double number = value.number();
          if (numbers != nullptr) numbers->push_back(number);
          if (std::isnan(number)) continue;  // no order: as the server's min and max
          of_rank.set_min(of_rank.has_numbers() ? std::min(of_rank.min(), number) : number);
          of_rank.set_max(of_rank.has_numbers() ? std::max(of_rank.max(), number) : number);
          of_rank.set_has_numbers(true);
        }
        return absl::OkStatus();
      });
  if (!read.ok()) return read.status();
  of_rank.set_count(count);
  return of_rank;
}

}  // namespace runyard::cli
