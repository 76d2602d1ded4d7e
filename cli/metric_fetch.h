#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/backend.h"
#include "runyard/v1/run.pb.h"

namespace runyard::cli {

// Every series of the run (without values), by name; with `name`, that one only, and
// NotFound naming the series the run has when it has no such one.
absl::StatusOr<std::vector<runyard::v1::MetricSeries>> FetchSeries(RunBackend& backend,
                                                                   const std::string& run_id,
                                                                   const std::string& name = "");

// Hands the values of series `name` from seq `from` on to `sink`, a page (GetMetrics's
// next_seq) at a time, so a million values never travel in one message. A page too large
// for one message is asked for again in halves. Returns the seq after the last value
// passed on (where a later call goes on).
using ValuePageSink = std::function<absl::Status(const std::vector<runyard::v1::MetricValue>&)>;
absl::StatusOr<int64_t> ForEachValuePage(RunBackend& backend, const std::string& run_id,
                                         const std::string& name, int64_t from,
                                         const ValuePageSink& sink);

// The number values a sparkline of `columns` draws for `series`: all of them for a
// series of up to 20,000 values; for a longer one, an even sample of each column's share
// (the mean of up to 200 values at the start of each share), so the table stays quick for
// a million values. `ranks`, when given, gets the ranks (of a distributed run) of the
// values read: every value's up to 20,000, the samples' (and the last value's) past that.
absl::StatusOr<std::vector<double>> SparklineSamples(RunBackend& backend, const std::string& run_id,
                                                     const runyard::v1::MetricSeries& series,
                                                     int columns,
                                                     std::set<int32_t>* ranks = nullptr);

// `series` as rank `rank` of a distributed run logged it: its count, min, max (over the
// rank's numbers, NaN left out) and last value, from reading every value of the series.
// `numbers`, when given, gets the rank's number values in order (a sparkline's input).
absl::StatusOr<runyard::v1::MetricSeries> RankSeries(RunBackend& backend, const std::string& run_id,
                                                     const runyard::v1::MetricSeries& series,
                                                     int32_t rank,
                                                     std::vector<double>* numbers = nullptr);

}  // namespace runyard::cli
