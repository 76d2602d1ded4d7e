// libFuzzer target for server::ParseRunRecord: the input is one (hostile) record line of
// the in-run API, as a run's script may write anything into its records file.
//
// A refusal must be InvalidArgument. An accepted record must keep to the bounds, checked
// here without the product code: names non-empty where required and at most 255
// characters, text at most 65,536 characters, valid UTF-8 everywhere (the store and the
// protobuf strings need it); a metric's values each of its type with exactly one of
// number / text / json set, a json value that parses again; a status record's status one
// of Completed, Failed, Canceled. A violation prints what was found and aborts.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "server/run_records.h"

namespace {

using runyard::server::RunRecord;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "\n*** records_parse_fuzzer: INVARIANT VIOLATED: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// Characters of valid UTF-8, or -1 when it is not valid UTF-8 (re-stated by hand).
long Utf8Length(std::string_view text) {
  long chars = 0;
  for (size_t i = 0; i < text.size(); ++chars) {
    const auto c = static_cast<unsigned char>(text[i]);
    const size_t length = c < 0x80           ? 1
                          : (c >> 5) == 0x6  ? 2
                          : (c >> 4) == 0xE  ? 3
                          : (c >> 3) == 0x1E ? 4
                                             : 0;
    if (length == 0 || i + length > text.size()) return -1;
    for (size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return -1;
    }
    i += length;
  }
  return chars;
}

void CheckText(std::string_view text, long most, bool required, const char* what) {
  const long chars = Utf8Length(text);
  if (chars < 0) Fail(std::string(what) + " is not valid UTF-8");
  if (chars > most) Fail(std::string(what) + " has " + std::to_string(chars) + " characters");
  if (required && chars == 0) Fail(std::string(what) + " is empty");
}

void CheckEntries(const RunRecord& record) {
  for (const auto& [key, value] : record.entries) {
    CheckText(key, 255, true, "an entry's key");
    CheckText(value, 65536, false, "an entry's value");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<RunRecord> parsed = runyard::server::ParseRunRecord(line);
  if (!parsed.ok()) {
    if (parsed.status().code() != absl::StatusCode::kInvalidArgument) {
      Fail("refusal is not InvalidArgument: " + parsed.status().ToString());
    }
    return 0;
  }
  const RunRecord& record = *parsed;
  if (size > runyard::server::kMaxRecordLineBytes) Fail("accepted a line over 1 MiB");
  CheckText(record.run_id, 255, false, "the run id");
  switch (record.kind) {
    case RunRecord::Kind::kMetric:
      CheckText(record.name, 255, true, "the metric name");
      CheckText(record.description, 65536, false, "the description");
      for (const auto& value : record.values) {
        const int set = value.has_number() + value.has_text() + value.has_json();
        if (set != 1) Fail("a metric value with " + std::to_string(set) + " of number/text/json");
        if (value.kind().empty()) Fail("a metric value without its kind");
        if (value.has_text()) CheckText(value.text(), 65536, false, "a text value");
        if (value.has_json() && !nlohmann::json::accept(value.json())) {
          Fail("a json value that does not parse again");
        }
      }
      if (record.values.size() != 1 && !record.values.empty() &&
          record.values[0].kind() == "scalar") {
        Fail("a scalar metric with more than one value");
      }
      break;
    case RunRecord::Kind::kTags:
    case RunRecord::Kind::kProperties:
      CheckEntries(record);
      break;
    case RunRecord::Kind::kChild:
      CheckText(record.run_id, 255, true, "the child's run id");
      CheckText(record.name, 65536, false, "the child's name");
      CheckEntries(record);
      break;
    case RunRecord::Kind::kStatus:
      if (record.status != runyard::v1::COMPLETED && record.status != runyard::v1::FAILED &&
          record.status != runyard::v1::CANCELED) {
        Fail("a status record with status " + std::to_string(record.status));
      }
      CheckText(record.error.code(), 255, false, "the error code");
      CheckText(record.error.message(), 65536, false, "the error message");
      break;
  }
  return 0;
}
