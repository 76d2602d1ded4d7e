// The record lines a run's script writes through the in-run API (system_logs/run_records.jsonl;
// the format is in docs and /work/notes/issue15_contract.md): one JSON object per line,
// parsed into typed records. A line that is not one of them is refused with the reason,
// so that the run's system_logs/run_api_errors.txt can say what was wrong with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runyard/v1/run.pb.h"

namespace runyard::server {

// Bounds of one record, whatever the server's per-run limits say.
inline constexpr size_t kMaxRecordNameChars = 255;      // metric names, tag and property keys
inline constexpr size_t kMaxRecordTextChars = 65'536;   // string values, tag and property values
inline constexpr size_t kMaxRecordLineBytes = 1 << 20;  // one line, without its '\n'
// Values in one metric line's "v" (the SDK's log_list chunk).
inline constexpr size_t kMaxRecordValues = 10'000;
// Arrays and objects inside one another: serializing a value recurses per level, so a
// deeper line is refused before it becomes a tree.
inline constexpr int kMaxRecordNesting = 64;
// "rank" (a metric's distributed-run rank) past this is no rank (MetricValue.rank is int32).
inline constexpr int64_t kMaxRecordRank = 2'147'483'647;
// "t" past this (the year 5138) is no wall time of a run.
inline constexpr double kMaxRecordTime = 1e11;

// A record about `run_id` (empty: the run whose channel it came through).
struct RunRecord {
  enum class Kind { kMetric, kTags, kProperties, kChild, kStatus };
  Kind kind = Kind::kMetric;
  std::string run_id;
  double time = 0;  // "t": seconds since the epoch; 0 when absent

  // kMetric: values appended to series `name` in order (each with its kind, wall time and,
  // for a scalar, its step).
  std::string name;  // also kChild: the child's display name
  std::string description;
  std::vector<runyard::v1::MetricValue> values;

  // kTags, kProperties, kChild (the child's tags).
  std::map<std::string, std::string> entries;

  // kStatus: COMPLETED, FAILED or CANCELED, with the error the script gave (may be empty).
  runyard::v1::RunStatus status = runyard::v1::RUN_STATUS_UNSPECIFIED;
  runyard::v1::RunError error;
};

// Parses one line (without its '\n'). InvalidArgument saying why for a line that is not
// a valid record: not JSON, nested deeper than kMaxRecordNesting, an unknown kind, a field
// missing or of the wrong type, a name, text, "v" or "t" over its bound.
absl::StatusOr<RunRecord> ParseRunRecord(std::string_view line);

// Characters of UTF-8 text (code points, as the script's len() counts them).
size_t Utf8Chars(std::string_view text);

}  // namespace runyard::server
