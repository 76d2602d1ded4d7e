#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "runyard/v1/run.pb.h"

namespace runyard::cli {

// A number as a person reads it: integers without a fraction, else 6 significant digits.
std::string FormatNumber(double value);

// One value on one line: the number, the text (an image's run file path), or the JSON
// document compact; line breaks shown as \n, cut to `max_chars` with "…" when longer
// (0: never cut).
std::string MetricValueText(const runyard::v1::MetricValue& value, size_t max_chars = 0);

// {"seq", "step" (null when none), "value" (number, string, or the JSON document itself),
//  "time" (seconds since the epoch), "kind", and "rank" for a value a distributed run's rank
//  logged (absent otherwise)}
nlohmann::json MetricValueToJson(const runyard::v1::MetricValue& value);
// The series without its values: {"name", "kind", "description", "count", "min", "max"
// (null without numbers), "last" (as MetricValueToJson, null when empty)}.
nlohmann::json SeriesSummaryToJson(const runyard::v1::MetricSeries& series);

// `runyard metrics RUN`: one row per series, NAME KIND COUNT LAST MIN MAX TREND, where
// TREND is the series' sparkline from `sparklines` (by name; none: blank). With `ranks`
// (by name: the ranks of a distributed run that logged the series, as RankRanges writes
// them) a RANKS column follows COUNT ("-" for a series without one).
std::string MetricsTable(const std::vector<runyard::v1::MetricSeries>& series,
                         const std::map<std::string, std::string>& sparklines,
                         const std::map<std::string, std::string>& ranks = {});

// Ranks compactly: runs of consecutive ones as "first-last", joined by commas ("0-3",
// "0,2,5-7"); none: "".
std::string RankRanges(const std::set<int32_t>& ranks);

// `runyard metrics RUN --name N`: a heading naming the series, then a row per value
// (# STEP TIME VALUE), printed as pages of values arrive.
// `with_counts` false (following, the counts still grow): only the name, kind and description.
// `with_rank`: a RANK column after STEP (a distributed run's series; "-" for a value without).
// `of_rank` >= 0: the series is only that rank's values (RankSeries), and the heading says so.
std::string SeriesHeading(const runyard::v1::MetricSeries& series, bool with_counts = true,
                          bool with_rank = false, int of_rank = -1);
std::string SeriesValueRow(const runyard::v1::MetricValue& value, bool with_rank = false);

// Characters a terminal shows for UTF-8 text (code points; every one a column wide).
size_t DisplayWidth(const std::string& text);

}  // namespace runyard::cli
