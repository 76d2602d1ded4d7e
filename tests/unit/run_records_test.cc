// Tests for ParseRunRecord (server/run_records.h): every record kind of the in-run API's
// channel, and every refusal with the reason it gives.
#include "server/run_records.h"

#include <cmath>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace runyard::server {
namespace {

using ::testing::HasSubstr;

RunRecord Parsed(const std::string& line) {
  absl::StatusOr<RunRecord> record = ParseRunRecord(line);
  EXPECT_TRUE(record.ok()) << line << ": " << record.status();
  return record.ok() ? *record : RunRecord{};
}

// The reason a line is refused ("" if it is not).
std::string Refusal(const std::string& line) {
  absl::StatusOr<RunRecord> record = ParseRunRecord(line);
  if (record.ok()) return "";
  EXPECT_EQ(record.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(record.status().message());
}

TEST(RunRecordsTest, ScalarMetricWithStepDescriptionAndTime) {
  const RunRecord record = Parsed(
      R"({"k":"metric","n":"loss","type":"scalar","v":[0.25],"s":3,"d":"train loss","t":1700000000.5})");
  EXPECT_EQ(record.kind, RunRecord::Kind::kMetric);
  EXPECT_EQ(record.run_id, "");
  EXPECT_EQ(record.name, "loss");
  EXPECT_EQ(record.description, "train loss");
  EXPECT_DOUBLE_EQ(record.time, 1700000000.5);
  ASSERT_EQ(record.values.size(), 1u);
  const runyard::v1::MetricValue& value = record.values[0];
  EXPECT_EQ(value.kind(), "scalar");
  EXPECT_TRUE(value.has_number());
  EXPECT_DOUBLE_EQ(value.number(), 0.25);
  EXPECT_TRUE(value.has_step());
  EXPECT_EQ(value.step(), 3);
  EXPECT_DOUBLE_EQ(value.wall_time(), 1700000000.5);
}

TEST(RunRecordsTest, ScalarValuesKeepTheirType) {
  const RunRecord text = Parsed(R"({"k":"metric","n":"phase","type":"scalar","v":["warmup"]})");
  EXPECT_EQ(text.values[0].text(), "warmup");
  EXPECT_FALSE(text.values[0].has_step());
  const RunRecord yes = Parsed(R"({"k":"metric","n":"ok","type":"scalar","v":[true]})");
  EXPECT_DOUBLE_EQ(yes.values[0].number(), 1);
  const RunRecord no = Parsed(R"({"k":"metric","n":"ok","type":"scalar","v":[false]})");
  EXPECT_TRUE(no.values[0].has_number());
  EXPECT_DOUBLE_EQ(no.values[0].number(), 0);
  const RunRecord big =
      Parsed(R"({"k":"metric","n":"n","type":"scalar","v":[18446744073709551615]})");
  EXPECT_DOUBLE_EQ(big.values[0].number(), 18446744073709551615.0);
}

TEST(RunRecordsTest, NonFiniteNumbersTravelAsStrings) {
  const RunRecord record =
      Parsed(R"({"k":"metric","n":"x","type":"list","v":["NaN","Infinity","-Infinity","nan"]})");
  ASSERT_EQ(record.values.size(), 4u);
  EXPECT_TRUE(std::isnan(record.values[0].number()));
  EXPECT_EQ(record.values[1].number(), INFINITY);
  EXPECT_EQ(record.values[2].number(), -INFINITY);
  EXPECT_EQ(record.values[3].text(), "nan");  // only the exact spellings
}

TEST(RunRecordsTest, ListKeepsEveryValueInOrder) {
  std::string line = R"({"k":"metric","n":"acc","type":"list","v":[)";
  for (int i = 0; i < 10000; ++i) line += (i ? "," : "") + std::to_string(i);
  line += "]}";
  const RunRecord record = Parsed(line);
  ASSERT_EQ(record.values.size(), 10000u);
  for (int i = 0; i < 10000; ++i) {
    ASSERT_DOUBLE_EQ(record.values[i].number(), i);
    ASSERT_EQ(record.values[i].kind(), "list");
  }
}

TEST(RunRecordsTest, DocumentsAreKeptAsJson) {
  const RunRecord row =
      Parsed(R"({"k":"metric","n":"r","type":"row","v":[{"epoch":1,"loss":0.5}]})");
  EXPECT_EQ(row.values[0].json(), R"({"epoch":1,"loss":0.5})");
  const RunRecord table =
      Parsed(R"({"k":"metric","n":"t","type":"table","v":[{"a":[1,2],"b":["x","y"]}]})");
  EXPECT_EQ(table.values[0].json(), R"({"a":[1,2],"b":["x","y"]})");
  for (const char* type : {"confusion_matrix", "accuracy_table", "predictions", "residuals"}) {
    const RunRecord doc = Parsed(std::string(R"({"k":"metric","n":"m","type":")") + type +
                                 R"(","v":[{"schema_type":"x","data":[[1,0],[0,1]]}]})");
    EXPECT_EQ(doc.values[0].kind(), type);
    EXPECT_TRUE(doc.values[0].has_json());
  }
  const RunRecord image =
      Parsed(R"({"k":"metric","n":"curve","type":"image","v":["logs/images/curve-0.png"]})");
  EXPECT_EQ(image.values[0].text(), "logs/images/curve-0.png");
}

TEST(RunRecordsTest, TagsPropertiesChildAndStatus) {
  const RunRecord tags = Parsed(R"({"k":"tag","tags":{"a":"1","b":""},"t":5})");
  EXPECT_EQ(tags.kind, RunRecord::Kind::kTags);
  EXPECT_EQ(tags.entries, (std::map<std::string, std::string>{{"a", "1"}, {"b", ""}}));
  const RunRecord props = Parsed(R"({"k":"props","props":{"git":"abc"},"r":"run-1_2"})");
  EXPECT_EQ(props.kind, RunRecord::Kind::kProperties);
  EXPECT_EQ(props.run_id, "run-1_2");
  const RunRecord child =
      Parsed(R"({"k":"child","r":"run-1_0","name":"fold 0","tags":{"fold":"0"}})");
  EXPECT_EQ(child.kind, RunRecord::Kind::kChild);
  EXPECT_EQ(child.run_id, "run-1_0");
  EXPECT_EQ(child.name, "fold 0");
  EXPECT_EQ(child.entries.at("fold"), "0");
  const RunRecord failed =
      Parsed(R"({"k":"status","s":"Failed","error":{"code":"BadData","message":"no rows"}})");
  EXPECT_EQ(failed.status, runyard::v1::FAILED);
  EXPECT_EQ(failed.error.code(), "BadData");
  EXPECT_EQ(failed.error.message(), "no rows");
  EXPECT_EQ(Parsed(R"({"k":"status","s":"Completed","r":"run-1_0"})").status,
            runyard::v1::COMPLETED);
  EXPECT_EQ(Parsed(R"({"k":"status","s":"Canceled","error":null})").status, runyard::v1::CANCELED);
}

TEST(RunRecordsTest, UnknownFieldsAreIgnored) {
  EXPECT_EQ(Parsed(R"({"k":"tag","tags":{},"future":[1,2]})").kind, RunRecord::Kind::kTags);
}

TEST(RunRecordsTest, NonAsciiIsCountedInCharacters) {
  // 255 characters of two bytes each: 510 bytes, still a valid name.
  std::string name;
  for (int i = 0; i < 255; ++i) name += "\xC3\xA9";  // é
  const RunRecord record =
      Parsed(R"({"k":"metric","n":")" + name + R"(","type":"scalar","v":["日本語 ✓"]})");
  EXPECT_EQ(record.name, name);
  EXPECT_EQ(record.values[0].text(), "日本語 ✓");
  EXPECT_EQ(Utf8Chars(name), 255u);
  // JSON escapes decode to UTF-8.
  EXPECT_EQ(Parsed(R"({"k":"tag","tags":{"k":"\u00e9\ud83d\ude00"}})").entries.at("k"),
            "\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_THAT(Refusal(R"({"k":"metric","n":")" + name + "e" + R"(","type":"scalar","v":[1]})"),
              HasSubstr("metric name has 256 characters; at most 255"));
}

TEST(RunRecordsTest, RefusesWhatIsNotARecord) {
  EXPECT_THAT(Refusal("not json"), HasSubstr("not valid JSON"));
  EXPECT_THAT(Refusal(R"({"k":"metric")"), HasSubstr("not valid JSON"));
  EXPECT_THAT(Refusal("[1,2]"), HasSubstr("a record is a JSON object, not array"));
  EXPECT_THAT(Refusal(R"({"n":"x"})"), HasSubstr("without \"k\""));
  EXPECT_THAT(Refusal(R"({"k":"dance"})"), HasSubstr("unknown record kind 'dance'"));
  EXPECT_THAT(Refusal("{\"k\":\"tag\",\"tags\":{\"a\":\"\xff\"}}"), HasSubstr("not valid JSON"));
  EXPECT_THAT(Refusal(R"({"k":"tag","tags":{},"t":"now"})"), HasSubstr("time \"t\""));
  EXPECT_THAT(Refusal(R"({"k":"tag","tags":{},"t":-1})"), HasSubstr("time \"t\""));
  EXPECT_THAT(Refusal(R"({"k":"tag","tags":{},"r":7})"),
              HasSubstr("run id \"r\" must be a string"));
}

TEST(RunRecordsTest, RefusesBadMetrics) {
  EXPECT_THAT(Refusal(R"({"k":"metric","type":"scalar","v":[1]})"), HasSubstr("without \"n\""));
  EXPECT_THAT(Refusal(R"({"k":"metric","n":"","type":"scalar","v":[1]})"),
              HasSubstr("metric name is empty"));
  EXPECT_THAT(Refusal(R"({"k":"metric","n":"x","v":[1]})"), HasSubstr("without \"type\""));
  EXPECT_THAT(Refusal(R"({"k":"metric","n":"x","type":"histogram","v":[1]})"),
              HasSubstr("unknown metric type 'histogram'"));
  EXPECT_THAT(Refusal(R"({"k":"metric","n":"x","type":"scalar","v":1})"),
              HasSubstr("without \"v\""));
  EXPECT_THAT(Refusal(R"({"k":"metric","n":"x","type":"scalar","v":[1,2]})"),
              HasSubstr("a scalar metric has one value, not 2"));
  EXPECT_THAT(Refusal(R"({"k":"metric","n":"x","type":"list","v":[1,null]})"),
              HasSubstr("value 1 is null"));
  EXPECT_THAT(Refusal(R"({"k":"metric","n":"x","type":"list","v":[[1]]})"),
              HasSubstr("value 0 is array"));
  EXPECT_THAT(Refusal(R"({"k":"metric","n":"x","type":"scalar","v":[1],"s":1.5})"),
              HasSubstr("step \"s\" must be an integer"));
  EXPECT_THAT(Refusal(R"({"k":"metric","n":"x","type":"row","v":[[1]]})"),
              HasSubstr("of a row must be an object"));
  EXPECT_THAT(Refusal(R"({"k":"metric","n":"x","type":"table","v":[{"a":1}]})"),
              HasSubstr("table column 'a' must be a list"));
  EXPECT_THAT(Refusal(R"({"k":"metric","n":"x","type":"image","v":[3]})"),
              HasSubstr("must be the image's run file path"));
  EXPECT_THAT(Refusal(R"({"k":"metric","n":"x","type":"predictions","v":[null]})"),
              HasSubstr("value 0 is null"));
  EXPECT_THAT(Refusal(R"({"k":"metric","n":"x","type":"scalar","v":[1],"d":5})"),
              HasSubstr("description must be a string"));
}

TEST(RunRecordsTest, RankTagsEveryValueOfItsLine) {
  const RunRecord scalar =
      Parsed(R"({"k":"metric","n":"loss","type":"scalar","rank":3,"v":[0.5],"s":1})");
  ASSERT_EQ(scalar.values.size(), 1u);
  EXPECT_TRUE(scalar.values[0].has_rank());
  EXPECT_EQ(scalar.values[0].rank(), 3);
  const RunRecord list = Parsed(R"({"k":"metric","n":"acc","type":"list","rank":0,"v":[1,2,3]})");
  ASSERT_EQ(list.values.size(), 3u);
  for (const auto& value : list.values) {
    EXPECT_TRUE(value.has_rank());
    EXPECT_EQ(value.rank(), 0);
  }
  const RunRecord row =
      Parsed(R"({"k":"metric","n":"r","type":"row","rank":2147483647,"v":[{"a":1}]})");
  EXPECT_EQ(row.values[0].rank(), 2147483647);
  // A single process's line has no rank, and a null one is the same as none.
  EXPECT_FALSE(Parsed(R"({"k":"metric","n":"x","type":"scalar","v":[1]})").values[0].has_rank());
  EXPECT_FALSE(
      Parsed(R"({"k":"metric","n":"x","type":"scalar","rank":null,"v":[1]})").values[0].has_rank());
}

TEST(RunRecordsTest, RefusesABadRankNamingIt) {
  for (const char* rank :
       {"-1", "1.5", "\"0\"", "true", "[0]", "2147483648", "18446744073709551615"}) {
    EXPECT_THAT(
        Refusal(std::string(R"({"k":"metric","n":"x","type":"scalar","rank":)") + rank +
                R"(,"v":[1]})"),
        HasSubstr("rank \"rank\" must be an integer in [0, 2147483647], not " + std::string(rank)))
        << rank;
  }
}

TEST(RunRecordsTest, RefusesBadTagsChildrenAndStatuses) {
  EXPECT_THAT(Refusal(R"({"k":"tag"})"), HasSubstr("without \"tags\""));
  EXPECT_THAT(Refusal(R"({"k":"tag","tags":[]})"), HasSubstr("\"tags\" must be an object"));
  EXPECT_THAT(Refusal(R"({"k":"tag","tags":{"":"x"}})"), HasSubstr("empty key"));
  EXPECT_THAT(Refusal(R"({"k":"tag","tags":{"a":1}})"),
              HasSubstr("tags 'a' must have a string value, not number"));
  EXPECT_THAT(Refusal(R"({"k":"props"})"), HasSubstr("without \"props\""));
  EXPECT_THAT(Refusal(R"({"k":"child","name":"x"})"), HasSubstr("without \"r\""));
  EXPECT_THAT(Refusal(R"({"k":"status"})"), HasSubstr("without \"s\""));
  EXPECT_THAT(Refusal(R"({"k":"status","s":"Running"})"),
              HasSubstr("'Running' is not Completed, Failed or Canceled"));
  EXPECT_THAT(Refusal(R"({"k":"status","s":"Failed","error":"boom"})"),
              HasSubstr("\"error\" must be an object"));
}

TEST(RunRecordsTest, TextAndLineBounds) {
  const std::string longest(kMaxRecordTextChars, 'x');
  EXPECT_EQ(Refusal(R"({"k":"tag","tags":{"a":")" + longest + R"("}})"), "");
  EXPECT_THAT(Refusal(R"({"k":"tag","tags":{"a":")" + longest + R"(x"}})"),
              HasSubstr("tags 'a' has 65537 characters; at most 65536"));
  EXPECT_THAT(Refusal(R"({"k":"metric","n":"s","type":"scalar","v":[")" + longest + R"(x"]})"),
              HasSubstr("value 0 has 65537 characters"));
  EXPECT_THAT(Refusal(R"({"k":"tag","tags":{")" + std::string(256, 'k') + R"(":"v"}})"),
              HasSubstr("tags key has 256 characters; at most 255"));

  // A line of exactly 1 MiB is read; one byte more is not, whatever it holds.
  std::string line = R"({"k":"metric","n":"big","type":"list","v":[)";
  // Long strings, so the line stays within the 10,000 values a line may hold.
  const std::string value = "\"" + std::string(1000, 'x') + "\",";
  while (line.size() < kMaxRecordLineBytes - 1100) line += value;
  line += "1]";
  line += std::string(kMaxRecordLineBytes - 1 - line.size(), ' ') + "}";
  ASSERT_EQ(line.size(), kMaxRecordLineBytes);
  EXPECT_EQ(Refusal(line), "");
  EXPECT_THAT(Refusal(line + " "), HasSubstr("the line has 1048577 bytes; at most 1048576"));
}

// dump() of a deeply nested document recurses once per level: 400,000 levels (800 KB, within
// the line bound) overflowed the server's stack. Such a line is refused before it is parsed.
TEST(RunRecordsDepthTest, DeeplyNestedLineIsRefusedBeforeParsing) {
  const int depth = 400'000;
  std::string line = R"({"k":"metric","n":"x","type":"predictions","v":[)";
  line += std::string(depth, '[') + std::string(depth, ']') + "]}";
  EXPECT_THAT(Refusal(line), HasSubstr("nesting deeper than 64"));
  // Brackets inside strings are text, not nesting.
  const std::string brackets(1000, '[');
  EXPECT_EQ(Refusal(R"({"k":"tag","tags":{"a":")" + brackets + R"("}})"), "");
}

}  // namespace
}  // namespace runyard::server
