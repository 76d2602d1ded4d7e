#include "cli/metric_render.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "cli/render.h"

namespace runyard::cli {
namespace {

std::string PadRight(const std::string& text, size_t width) {
  const size_t shown = DisplayWidth(text);
  return shown >= width ? text : text + std::string(width - shown, ' ');
}

// Cuts UTF-8 text to at most `max_chars` code points, never inside one.
std::string CutTo(const std::string& text, size_t max_chars) {
  if (max_chars == 0 || DisplayWidth(text) <= max_chars) return text;
  size_t kept = 0;
  size_t at = 0;
  while (at < text.size()) {
    if ((static_cast<unsigned char>(text[at]) & 0xC0) != 0x80) {
      if (kept == max_chars - 1) break;
      ++kept;
    }
    ++at;
  }
  return text.substr(0, at) + "…";
}

std::string TimeText(double wall_time) {
  return IsoTime(static_cast<int64_t>(std::llround(wall_time * 1000.0)));
}

}  // namespace

size_t DisplayWidth(const std::string& text) {
  size_t width = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++width;
  }
  return width;
}

std::string FormatNumber(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == std::trunc(value) && std::fabs(value) < 1e15) {
    return absl::StrFormat("%d", static_cast<int64_t>(value));
  }
  return absl::StrFormat("%.6g", value);
}

std::string MetricValueText(const runyard::v1::MetricValue& value, size_t max_chars) {
  std::string text;
  switch (value.value_case()) {
    case runyard::v1::MetricValue::kNumber:
      return FormatNumber(value.number());
    case runyard::v1::MetricValue::kText:
      text = value.text();
      break;
    case runyard::v1::MetricValue::kJson: {
      // Compact, whatever spacing the script's JSON had.
      const nlohmann::json parsed = nlohmann::json::parse(value.json(), nullptr, false);
      text = parsed.is_discarded()
                 ? value.json()
                 : parsed.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      break;
    }
    default:
      return "";
  }
  text = absl::StrReplaceAll(text, {{"\r", "\\r"}, {"\n", "\\n"}, {"\t", "\\t"}});
  return CutTo(text, max_chars);
}

nlohmann::json MetricValueToJson(const runyard::v1::MetricValue& value) {
  nlohmann::json json;
  json["seq"] = value.seq();
  json["step"] = value.has_step() ? nlohmann::json(value.step()) : nlohmann::json(nullptr);
  switch (value.value_case()) {
    case runyard::v1::MetricValue::kNumber:
      // JSON has no NaN or infinity: those travel as their names.
      json["value"] = std::isfinite(value.number()) ? nlohmann::json(value.number())
                                                    : nlohmann::json(FormatNumber(value.number()));
      break;
    case runyard::v1::MetricValue::kText:
      json["value"] = value.text();
      break;
    case runyard::v1::MetricValue::kJson: {
      nlohmann::json parsed = nlohmann::json::parse(value.json(), nullptr, false);
      json["value"] = parsed.is_discarded() ? nlohmann::json(value.json()) : std::move(parsed);
      break;
    }
    default:
      json["value"] = nullptr;
  }
  json["time"] = value.wall_time();
  json["kind"] = value.kind();
  if (value.has_rank()) json["rank"] = value.rank();
  return json;
}

nlohmann::json SeriesSummaryToJson(const runyard::v1::MetricSeries& series) {
  nlohmann::json json;
  json["name"] = series.name();
  json["kind"] = series.kind();
  json["description"] = series.description();
  json["count"] = series.count();
  json["min"] = series.has_numbers() ? nlohmann::json(series.min()) : nlohmann::json(nullptr);
  json["max"] = series.has_numbers() ? nlohmann::json(series.max()) : nlohmann::json(nullptr);
  json["last"] = series.count() > 0 ? MetricValueToJson(series.last()) : nlohmann::json(nullptr);
  return json;
}

std::string RankRanges(const std::set<int32_t>& ranks) {
  std::string text;
  for (auto it = ranks.begin(); it != ranks.end();) {
    const int32_t first = *it;
    int32_t last = first;
    for (++it; it != ranks.end() && *it == last + 1; ++it) last = *it;
    absl::StrAppend(&text, text.empty() ? "" : ",", first);
    if (last != first) absl::StrAppend(&text, "-", last);
  }
  return text;
}

std::string MetricsTable(const std::vector<runyard::v1::MetricSeries>& series,
                         const std::map<std::string, std::string>& sparklines,
                         const std::map<std::string, std::string>& ranks) {
  constexpr size_t kLastChars = 32;  // a long text or table value does not widen the table
  const bool with_ranks = !ranks.empty();
  std::vector<std::vector<std::string>> rows = {{"NAME", "KIND", "COUNT"}};
  if (with_ranks) rows.front().push_back("RANKS");
  rows.front().insert(rows.front().end(), {"LAST", "MIN", "MAX", "TREND"});
  for (const auto& one : series) {
    auto line = sparklines.find(one.name());
    std::vector<std::string> row = {one.name(), one.kind(), absl::StrCat(one.count())};
    if (with_ranks) {
      auto of = ranks.find(one.name());
      row.push_back(of == ranks.end() || of->second.empty() ? "-" : of->second);
    }
    row.insert(row.end(), {one.count() > 0 ? MetricValueText(one.last(), kLastChars) : "",
                           one.has_numbers() ? FormatNumber(one.min()) : "-",
                           one.has_numbers() ? FormatNumber(one.max()) : "-",
                           line == sparklines.end() ? "" : line->second});
    rows.push_back(std::move(row));
  }
  std::vector<size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], DisplayWidth(row[i]));
  }
  std::string text;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i + 1 < row.size(); ++i)
      absl::StrAppend(&line, PadRight(row[i], widths[i]), "  ");
    absl::StrAppend(&line, row.back());
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(&text, line, "\n");
  }
  return text;
}

std::string SeriesHeading(const runyard::v1::MetricSeries& series, bool with_counts, bool with_rank,
                          int of_rank) {
  std::string text = absl::StrCat(series.name(), " (", series.kind());
  if (with_counts)
    absl::StrAppend(&text, ", ", series.count(), series.count() == 1 ? " value" : " values");
  if (of_rank >= 0) absl::StrAppend(&text, with_counts ? " of" : ",", " rank ", of_rank);
  if (with_counts && series.has_numbers()) {
    absl::StrAppend(&text, ", min ", FormatNumber(series.min()), ", max ",
                    FormatNumber(series.max()));
  }
  absl::StrAppend(&text, ")");
  if (!series.description().empty()) absl::StrAppend(&text, ": ", series.description());
  if (with_rank) {
    absl::StrAppend(
        &text, "\n",
        absl::StrFormat("%-8s %-8s %-6s %-24s %s\n", "#", "STEP", "RANK", "TIME", "VALUE"));
  } else {
    absl::StrAppend(&text, "\n",
                    absl::StrFormat("%-8s %-8s %-24s %s\n", "#", "STEP", "TIME", "VALUE"));
  }
  return text;
}

std::string SeriesValueRow(const runyard::v1::MetricValue& value, bool with_rank) {
  const std::string step = value.has_step() ? absl::StrCat(value.step()) : "-";
  if (with_rank) {
    return absl::StrFormat("%-8d %-8s %-6s %-24s %s\n", value.seq(), step,
                           value.has_rank() ? absl::StrCat(value.rank()) : "-",
                           TimeText(value.wall_time()), MetricValueText(value));
  }
  return absl::StrFormat("%-8d %-8s %-24s %s\n", value.seq(), step, TimeText(value.wall_time()),
                         MetricValueText(value));
}

}  // namespace runyard::cli
