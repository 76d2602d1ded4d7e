// Tests for common/request_limits.h: the generic ceilings every request is held to, with
// errors that name the field path and the limit and never echo more than 64 bytes.

#include "common/request_limits.h"

#include <string>

#include "common/spec_yaml.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runyard/v1/services.pb.h"

namespace runyard::common {
namespace {

using ::testing::HasSubstr;

runyard::v1::SubmitRequest SmallSubmit() {
  runyard::v1::SubmitRequest request;
  auto* spec = request.mutable_spec();
  spec->set_experiment("exp");
  spec->set_script("train.py");
  (*spec->mutable_tags())["team"] = "vision";
  spec->add_arguments("--epochs");
  return request;
}

TEST(RequestLimitsTest, AcceptsAnOrdinaryRequest) {
  EXPECT_TRUE(CheckRequestLimits("/runyard.v1.Runs/Submit", SmallSubmit()).ok());
  EXPECT_TRUE(CheckMessageLimits(runyard::v1::WhoAmIRequest()).ok());
}

TEST(RequestLimitsTest, RefusesALongStringNamingItsPath) {
  runyard::v1::SubmitRequest request = SmallSubmit();
  request.mutable_spec()->set_display_name(std::string(70000, 'n'));
  const absl::Status status = CheckMessageLimits(request);
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_EQ(status.message(), "spec.display_name: 70000 bytes, more than the limit of 65536");
}

TEST(RequestLimitsTest, AStringAtTheLimitIsAccepted) {
  runyard::v1::SubmitRequest request = SmallSubmit();
  request.mutable_spec()->set_display_name(std::string(kMaxStringBytes, 'n'));
  EXPECT_TRUE(CheckMessageLimits(request).ok());
}

TEST(RequestLimitsTest, AMapValueIsNamedByItsKey) {
  runyard::v1::SubmitRequest request = SmallSubmit();
  (*request.mutable_spec()->mutable_tags())["x"] = std::string(70000, 'v');
  EXPECT_EQ(CheckMessageLimits(request).message(),
            "spec.tags[\"x\"]: 70000 bytes, more than the limit of 65536");
}

TEST(RequestLimitsTest, ALongMapKeyIsEchoedCutTo64Bytes) {
  runyard::v1::SubmitRequest request = SmallSubmit();
  (*request.mutable_spec()->mutable_tags())[std::string(70000, 'k')] = "v";
  const std::string message(CheckMessageLimits(request).message());
  EXPECT_EQ(message, "spec.tags: a key of 70000 bytes (\"" + std::string(64, 'k') +
                         "\"...), more than the limit of 65536");
}

TEST(RequestLimitsTest, ARepeatedElementIsNamedByItsIndex) {
  runyard::v1::SubmitRequest request = SmallSubmit();
  auto* python = request.mutable_spec()->mutable_environment()->mutable_python();
  python->add_pip_packages("numpy");
  python->add_pip_packages(std::string(65537, 'p'));
  EXPECT_EQ(CheckMessageLimits(request).message(),
            "spec.environment.python.pip_packages[1]: 65537 bytes, more than the limit of 65536");
}

TEST(RequestLimitsTest, EchoedKeysAreEscaped) {
  runyard::v1::ListRunsRequest request;
  (*request.mutable_tags())[std::string("a\"b\n", 4)] = std::string(70000, 'v');
  EXPECT_THAT(CheckMessageLimits(request).message(), HasSubstr("tags[\"a\\\"b\\n\"]: 70000 bytes"));
}

TEST(RequestLimitsTest, BytesFieldsAreNotStrings) {
  runyard::v1::AppendRequest request;
  request.set_path("user_logs/std_log.txt");
  request.set_data(std::string(1 << 20, '\xff'));  // a megabyte, not UTF-8: file bytes
  EXPECT_TRUE(CheckRequestLimits("/runyard.v1.Agents/Append", request).ok());
}

TEST(RequestLimitsTest, ArgumentsAndEnvironmentValuesMayBeAsLongAsExecveAllows) {
  runyard::v1::SubmitRequest request = SmallSubmit();
  request.mutable_spec()->add_arguments(std::string(100000, 'a'));
  (*request.mutable_spec()->mutable_environment()->mutable_environment_variables())["BIG"] =
      std::string(100000, 'e');
  EXPECT_TRUE(CheckMessageLimits(request).ok());
  request.mutable_spec()->add_arguments(std::string(128 * 1024 + 1, 'a'));
  EXPECT_EQ(CheckMessageLimits(request).message(),
            "spec.arguments[2]: 131073 bytes, more than the limit of 131072");
}

TEST(RequestLimitsTest, RefusesTooManyRepeatedEntries) {
  runyard::v1::FindMissingBlobsRequest request;
  for (int i = 0; i <= kMaxRepeatedEntries; ++i) request.add_digests("d");
  EXPECT_EQ(CheckMessageLimits(request).message(),
            "digests: 100001 entries, more than the limit of 100000");
  request.mutable_digests()->RemoveLast();
  EXPECT_TRUE(CheckMessageLimits(request).ok());
}

TEST(RequestLimitsTest, RefusesTooManyMapEntries) {
  runyard::v1::SetTagsRequest request;
  for (int i = 0; i <= kMaxRepeatedEntries; ++i) (*request.mutable_tags())[std::to_string(i)] = "";
  EXPECT_EQ(CheckMessageLimits(request).message(),
            "tags: 100001 entries, more than the limit of 100000");
}

TEST(RequestLimitsTest, RefusesInvalidUtf8InStringsAndKeys) {
  runyard::v1::GetRunRequest get;
  get.set_run_id(std::string("ok\xc3\x28", 4));
  EXPECT_EQ(CheckMessageLimits(get).message(), "run_id: not valid UTF-8 (at byte 2)");

  runyard::v1::ListRunsRequest list;
  (*list.mutable_properties())[std::string("\xff", 1)] = "v";
  EXPECT_EQ(CheckMessageLimits(list).message(),
            "properties: a key that is not valid UTF-8 (\"\\xff\")");
}

TEST(RequestLimitsTest, AcceptsValidMultibyteUtf8AndRefusesOverlongsAndSurrogates) {
  runyard::v1::GetRunRequest request;
  request.set_run_id("r\xc3\xa9sum\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");  // résumé € 😀
  EXPECT_TRUE(CheckMessageLimits(request).ok());
  for (const std::string bad : {std::string("\xc0\xaf"), std::string("\xed\xa0\x80"),
                                std::string("\xf4\x90\x80\x80"), std::string("\xe2\x82")}) {
    request.set_run_id(bad);
    EXPECT_THAT(CheckMessageLimits(request).message(), HasSubstr("not valid UTF-8"));
  }
}

TEST(RequestLimitsTest, NamesAFieldInsideARepeatedMessage) {
  runyard::v1::ReportRequest request;
  request.add_items()->mutable_append()->set_path("a");
  request.add_items()->mutable_status()->mutable_error()->set_message(std::string(65537, 'm'));
  EXPECT_EQ(CheckMessageLimits(request).message(),
            "items[1].status.error.message: 65537 bytes, more than the limit of 65536");
}

TEST(RequestLimitsTest, RefusesMessagesNestedTooDeep) {
  runyard::v1::SubmitRequest request = SmallSubmit();
  request.mutable_spec()->mutable_environment()->set_name("env");
  MessageLimits limits;
  limits.max_nesting = 2;  // the request's fields, and those of spec
  EXPECT_EQ(CheckMessageLimits(request, limits).message(),
            "spec.environment: nested more than 2 messages deep");
  limits.max_nesting = 3;
  EXPECT_TRUE(CheckMessageLimits(request, limits).ok());
}

TEST(RequestLimitsTest, PerMethodSizeLimits) {
  EXPECT_EQ(MaxRequestBytes("/runyard.v1.Runs/Submit"), 4 << 20);
  EXPECT_EQ(MaxRequestBytes("/runyard.v1.Agents/Append"), 64 << 20);
  EXPECT_EQ(MaxRequestBytes("/runyard.v1.Agents/Report"), 64 << 20);
  EXPECT_EQ(MaxRequestBytes("/runyard.v1.Cas/BatchUploadBlobs"), 64 << 20);
  EXPECT_EQ(MaxRequestBytes("/runyard.v1.Cas/UploadBlob"), 64 << 20);

  runyard::v1::SubmitRequest request = SmallSubmit();
  for (int i = 0; i < 80; ++i) request.mutable_spec()->add_command(std::string(60000, 'c'));
  const absl::Status status = CheckRequestLimits("/runyard.v1.Runs/Submit", request);
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_THAT(status.message(), HasSubstr("request of /runyard.v1.Runs/Submit: "));
  EXPECT_THAT(status.message(), HasSubstr("bytes, more than the limit of 4194304"));

  runyard::v1::AppendRequest append;
  append.set_data(std::string(5 << 20, 'x'));
  EXPECT_TRUE(CheckRequestLimits("/runyard.v1.Agents/Append", append).ok());
}

// yaml-cpp passes any bytes through; the spec parser refuses what the server would.
TEST(RequestLimitsTest, TheSpecParserHoldsSpecsToTheLimits) {
  absl::StatusOr<runyard::v1::RunSpec> spec =
      ParseRunSpecYaml("script: a.py\ntags: {\"a\x88\": b}\n");
  EXPECT_TRUE(absl::IsInvalidArgument(spec.status()));
  EXPECT_EQ(spec.status().message(), "spec field tags: a key that is not valid UTF-8 (\"a\\x88\")");
  spec = ParseRunSpecYaml("script: a.py\ndisplay_name: " + std::string(70000, 'd') + "\n");
  EXPECT_EQ(spec.status().message(),
            "spec field display_name: 70000 bytes, more than the limit of 65536");
}

}  // namespace
}  // namespace runyard::common
