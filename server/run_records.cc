#include "server/run_records.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace runyard::server {
namespace {

using nlohmann::json;
using runyard::v1::MetricValue;

absl::Status Refused(absl::string_view why) { return absl::InvalidArgumentError(why); }

// "list" etc.: the metric types of the contract, and how their values are kept.
enum class ValueShape { kScalar, kImagePath, kRow, kTable, kDocument };

bool ShapeOf(std::string_view type, ValueShape* shape) {
  if (type == "scalar" || type == "list") {
    *shape = ValueShape::kScalar;
  } else if (type == "image") {
    *shape = ValueShape::kImagePath;
  } else if (type == "row") {
    *shape = ValueShape::kRow;
  } else if (type == "table") {
    *shape = ValueShape::kTable;
  } else if (type == "confusion_matrix" || type == "accuracy_table" || type == "predictions" ||
             type == "residuals") {
    *shape = ValueShape::kDocument;
  } else {
    return false;
  }
  return true;
}

absl::Status CheckChars(std::string_view text, size_t bound, absl::string_view what) {
  if (text.size() <= bound) return absl::OkStatus();  // bytes bound characters from above
  if (const size_t chars = Utf8Chars(text); chars > bound) {
    return Refused(absl::StrCat(what, " has ", chars, " characters; at most ", bound));
  }
  return absl::OkStatus();
}

// A name: a non-empty string of at most kMaxRecordNameChars.
absl::Status ReadName(const json& value, absl::string_view what, std::string* out) {
  if (!value.is_string()) return Refused(absl::StrCat(what, " must be a string"));
  const auto& text = value.get_ref<const std::string&>();
  if (text.empty()) return Refused(absl::StrCat(what, " is empty"));
  RETURN_IF_ERROR(CheckChars(text, kMaxRecordNameChars, what));
  *out = text;
  return absl::OkStatus();
}

absl::Status ReadText(const json& value, absl::string_view what, std::string* out) {
  if (!value.is_string()) return Refused(absl::StrCat(what, " must be a string"));
  const auto& text = value.get_ref<const std::string&>();
  RETURN_IF_ERROR(CheckChars(text, kMaxRecordTextChars, what));
  *out = text;
  return absl::OkStatus();
}

// An object of string values, e.g. {"tags": {"k": "v"}}.
absl::Status ReadStringMap(const json& value, absl::string_view what,
                           std::map<std::string, std::string>* out) {
  if (!value.is_object()) return Refused(absl::StrCat("\"", what, "\" must be an object"));
  for (const auto& [key, entry] : value.items()) {
    if (key.empty()) return Refused(absl::StrCat("\"", what, "\" has an empty key"));
    RETURN_IF_ERROR(CheckChars(key, kMaxRecordNameChars, absl::StrCat(what, " key")));
    if (!entry.is_string()) {
      return Refused(
          absl::StrCat(what, " '", key, "' must have a string value, not ", entry.type_name()));
    }
    RETURN_IF_ERROR(ReadText(entry, absl::StrCat(what, " '", key, "'"), &(*out)[key]));
  }
  return absl::OkStatus();
}

// JSON has no NaN or infinities: the SDK sends them as these strings (protobuf's spelling).
bool NonFinite(const std::string& text, double* number) {
  if (text == "NaN") {
    *number = std::numeric_limits<double>::quiet_NaN();
  } else if (text == "Infinity") {
    *number = std::numeric_limits<double>::infinity();
  } else if (text == "-Infinity") {
    *number = -std::numeric_limits<double>::infinity();
  } else {
    return false;
  }
  return true;
}

absl::Status ReadValue(const json& value, ValueShape shape, size_t index, MetricValue* out) {
  const auto what = [&] { return absl::StrCat("value ", index); };
  switch (shape) {
    case ValueShape::kScalar:
      if (value.is_boolean()) {
        out->set_number(value.get<bool>() ? 1 : 0);
      } else if (value.is_number()) {
        out->set_number(value.get<double>());
      } else if (value.is_string()) {
        const auto& text = value.get_ref<const std::string&>();
        double number = 0;
        if (NonFinite(text, &number)) {
          out->set_number(number);
        } else {
          RETURN_IF_ERROR(CheckChars(text, kMaxRecordTextChars, what()));
          out->set_text(text);
        }
      } else {
        return Refused(absl::StrCat(what(), " is ", value.type_name(),
                                    "; a metric value is a number, a string or a bool"));
      }
      return absl::OkStatus();
    case ValueShape::kImagePath:
      if (!value.is_string() || value.get_ref<const std::string&>().empty()) {
        return Refused(absl::StrCat(what(), " must be the image's run file path"));
      }
      RETURN_IF_ERROR(CheckChars(value.get_ref<const std::string&>(), kMaxRecordTextChars, what()));
      out->set_text(value.get<std::string>());
      return absl::OkStatus();
    case ValueShape::kRow:
      if (!value.is_object()) return Refused(absl::StrCat(what(), " of a row must be an object"));
      break;
    case ValueShape::kTable:
      if (!value.is_object()) {
        return Refused(absl::StrCat(what(), " of a table must be an object of lists"));
      }
      for (const auto& [column, cells] : value.items()) {
        if (!cells.is_array()) {
          return Refused(absl::StrCat(what(), ": table column '", column, "' must be a list"));
        }
      }
      break;
    case ValueShape::kDocument:
      if (value.is_null()) return Refused(absl::StrCat(what(), " is null"));
      break;
  }
  out->set_json(value.dump());
  return absl::OkStatus();
}

absl::Status ReadMetric(const json& line, RunRecord* record) {
  record->kind = RunRecord::Kind::kMetric;
  if (!line.contains("n")) return Refused("metric without \"n\" (its name)");
  RETURN_IF_ERROR(ReadName(line["n"], "metric name", &record->name));
  if (!line.contains("type") || !line["type"].is_string()) {
    return Refused("metric without \"type\" (a string)");
  }
  const std::string& type = line["type"].get_ref<const std::string&>();
  ValueShape shape;
  if (!ShapeOf(type, &shape)) {
    return Refused(absl::StrCat(
        "unknown metric type '", type.substr(0, kMaxRecordNameChars),
        "' (scalar, list, row, table, image, confusion_matrix, accuracy_table, predictions or "
        "residuals)"));
  }
  if (line.contains("d")) RETURN_IF_ERROR(ReadText(line["d"], "description", &record->description));
  bool has_step = false;
  int64_t step = 0;
  if (line.contains("s") && !line["s"].is_null()) {
    const json& s = line["s"];
    if (!s.is_number_integer() && !s.is_number_unsigned()) {
      return Refused("step \"s\" must be an integer");
    }
    if (s.is_number_unsigned() &&
        s.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Refused("step \"s\" is too large");
    }
    has_step = true;
    step = s.get<int64_t>();
  }
  // "rank": the distributed run's process that logged it; absent for a single process.
  std::optional<int32_t> rank;
  if (line.contains("rank") && !line["rank"].is_null()) {
    const json& r = line["rank"];
    const bool integer = r.is_number_unsigned() || (r.is_number_integer() && r.get<int64_t>() >= 0);
    if (!integer || r.get<uint64_t>() > static_cast<uint64_t>(kMaxRecordRank)) {
      return Refused(absl::StrCat("rank \"rank\" must be an integer in [0, ", kMaxRecordRank,
                                  "], not ", r.dump().substr(0, kMaxRecordNameChars)));
    }
    rank = static_cast<int32_t>(r.get<uint64_t>());
  }
  if (!line.contains("v") || !line["v"].is_array()) {
    return Refused("metric without \"v\" (a list of values)");
  }
  const json& values = line["v"];
  if (values.size() > kMaxRecordValues) {
    return Refused(absl::StrCat("a metric line has ", values.size(), " values in \"v\"; at most ",
                                kMaxRecordValues));
  }
  if (type == "scalar" && values.size() != 1) {
    return Refused(absl::StrCat("a scalar metric has one value, not ", values.size()));
  }
  record->values.reserve(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    MetricValue& value = record->values.emplace_back();
    RETURN_IF_ERROR(ReadValue(values[i], shape, i, &value));
    value.set_kind(type);
    value.set_wall_time(record->time);
    if (has_step) {
      value.set_has_step(true);
      value.set_step(step);
    }
    if (rank) value.set_rank(*rank);
  }
  return absl::OkStatus();
}

absl::Status ReadStatus(const json& line, RunRecord* record) {
  record->kind = RunRecord::Kind::kStatus;
  if (!line.contains("s") || !line["s"].is_string()) {
    return Refused("status without \"s\" (Completed, Failed or Canceled)");
  }
  const std::string& status = line["s"].get_ref<const std::string&>();
  if (status == "Completed") {
    record->status = runyard::v1::COMPLETED;
  } else if (status == "Failed") {
    record->status = runyard::v1::FAILED;
  } else if (status == "Canceled") {
    record->status = runyard::v1::CANCELED;
  } else {
    return Refused(absl::StrCat("status '", status.substr(0, kMaxRecordNameChars),
                                "' is not Completed, Failed or Canceled"));
  }
  if (line.contains("error") && !line["error"].is_null()) {
    const json& error = line["error"];
    if (!error.is_object()) return Refused("\"error\" must be an object");
    std::string text;
    if (error.contains("code") && !error["code"].is_null()) {
      RETURN_IF_ERROR(ReadName(error["code"], "error code", &text));
      record->error.set_code(text);
    }
    if (error.contains("message") && !error["message"].is_null()) {
      RETURN_IF_ERROR(ReadText(error["message"], "error message", &text));
      record->error.set_message(text);
    }
  }
  return absl::OkStatus();
}

absl::Status ReadRecord(const json& line, RunRecord* record) {
  if (!line.is_object())
    return Refused(absl::StrCat("a record is a JSON object, not ", line.type_name()));
  if (!line.contains("k") || !line["k"].is_string())
    return Refused("record without \"k\" (its kind)");
  if (line.contains("r") && !line["r"].is_null()) {
    RETURN_IF_ERROR(ReadName(line["r"], "run id \"r\"", &record->run_id));
  }
  if (line.contains("t") && !line["t"].is_null()) {
    const json& t = line["t"];
    if (!t.is_number() || !std::isfinite(t.get<double>()) || t.get<double>() < 0 ||
        t.get<double>() > kMaxRecordTime) {
      return Refused(absl::StrCat("time \"t\" must be a number of seconds since the epoch, in [0, ",
                                  kMaxRecordTime, "]"));
    }
    record->time = t.get<double>();
  }
  const std::string& kind = line["k"].get_ref<const std::string&>();
  if (kind == "metric") return ReadMetric(line, record);
  if (kind == "tag") {
    record->kind = RunRecord::Kind::kTags;
    if (!line.contains("tags")) return Refused("tag record without \"tags\"");
    return ReadStringMap(line["tags"], "tags", &record->entries);
  }
  if (kind == "props") {
    record->kind = RunRecord::Kind::kProperties;
    if (!line.contains("props")) return Refused("props record without \"props\"");
    return ReadStringMap(line["props"], "props", &record->entries);
  }
  if (kind == "child") {
    record->kind = RunRecord::Kind::kChild;
    if (record->run_id.empty()) return Refused("child record without \"r\" (the child's run id)");
    if (line.contains("name") && !line["name"].is_null()) {
      RETURN_IF_ERROR(ReadText(line["name"], "child name", &record->name));
    }
    if (line.contains("tags") && !line["tags"].is_null()) {
      RETURN_IF_ERROR(ReadStringMap(line["tags"], "tags", &record->entries));
    }
    return absl::OkStatus();
  }
  if (kind == "status") return ReadStatus(line, record);
  return Refused(absl::StrCat("unknown record kind '", kind.substr(0, kMaxRecordNameChars),
                              "' (metric, tag, props, child or status)"));
}

// Whether arrays and objects nest deeper than `limit` anywhere in `line` (brackets inside
// strings do not count). Looked at before parsing: nlohmann's parser does not recurse, but
// dump() does, once per level.
bool NestedDeeperThan(std::string_view line, int limit) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : line) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      --depth;  // unbalanced: the parser says so
    }
  }
  return false;
}

}  // namespace

size_t Utf8Chars(std::string_view text) {
  size_t chars = 0;
  for (const char c : text) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return chars;
}

absl::StatusOr<RunRecord> ParseRunRecord(std::string_view line) {
  if (line.size() > kMaxRecordLineBytes) {
    return Refused(absl::StrCat("the line has ", line.size(), " bytes; at most ",
                                kMaxRecordLineBytes, " (1 MiB)"));
  }
  if (NestedDeeperThan(line, kMaxRecordNesting)) {
    return Refused(absl::StrCat("nesting deeper than ", kMaxRecordNesting));
  }
  // The only throwing call: the parser's own message says where the JSON went wrong.
  json parsed;
  try {
    parsed = json::parse(line);
  } catch (const json::exception& e) {
    return Refused(absl::StrCat("not valid JSON: ", e.what()));
  }
  RunRecord record;
  RETURN_IF_ERROR(ReadRecord(parsed, &record));
  return record;
}

}  // namespace runyard::server
