// Tests for `runyard metrics`: the sparkline (cli/sparkline.h), how values and series are
// shown (cli/metric_render.h), and how values are paged in (cli/metric_fetch.h) against a
// fake backend that pages as the control plane does.

#include <cmath>
#include <map>
#include <set>

#include "cli/metric_fetch.h"
#include "cli/metric_render.h"
#include "cli/sparkline.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_metrics_backend.h"

namespace runyard::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(SparklineTest, RisingValuesGoFromLowestToHighestBlock) {
  EXPECT_EQ(Sparkline({0, 1, 2, 3, 4, 5, 6, 7}), "▁▂▃▄▅▆▇█");
  EXPECT_EQ(Sparkline({7, 0}), "█▁");
}

TEST(SparklineTest, FlatAndEmptySeries) {
  EXPECT_EQ(Sparkline({}), "");
  EXPECT_EQ(Sparkline({3.5, 3.5, 3.5}), "▄▄▄");
  EXPECT_EQ(Sparkline({42}), "▄");
}

TEST(SparklineTest, NonFiniteValuesAreBlankAndDoNotStretchTheScale) {
  EXPECT_EQ(Sparkline({0, NAN, 7, INFINITY}), "▁ █ ");
}

TEST(SparklineTest, LongSeriesAreDownsampledToTheColumnLimit) {
  std::vector<double> values;
  for (int i = 0; i < 1000; ++i) values.push_back(i);
  const std::string line = Sparkline(values, 40);
  EXPECT_EQ(DisplayWidth(line), 40u);
  EXPECT_EQ(line.substr(0, 3), "▁");
  EXPECT_EQ(line.substr(line.size() - 3), "█");
}

TEST(DownsampleTest, EachColumnIsTheMeanOfAnEqualShareInOrder) {
  EXPECT_THAT(Downsample({1, 3, 5, 7}, 2), ElementsAre(2, 6));
  // 5 values in 2 columns: the first column takes the extra one.
  EXPECT_THAT(Downsample({1, 2, 3, 10, 20}, 2), ElementsAre(2, 15));
  EXPECT_THAT(Downsample({1, 2}, 40), ElementsAre(1, 2));
}

runyard::v1::MetricValue Number(double number, int64_t seq = 0) {
  runyard::v1::MetricValue value;
  value.set_seq(seq);
  value.set_number(number);
  value.set_kind("scalar");
  value.set_wall_time(1700000000.5);
  return value;
}

runyard::v1::MetricValue Text(const std::string& text, const std::string& kind = "scalar") {
  runyard::v1::MetricValue value;
  value.set_text(text);
  value.set_kind(kind);
  return value;
}

runyard::v1::MetricValue Json(const std::string& json, const std::string& kind) {
  runyard::v1::MetricValue value;
  value.set_json(json);
  value.set_kind(kind);
  return value;
}

TEST(MetricValueTextTest, NumbersTextsAndJsonOnOneLine) {
  EXPECT_EQ(MetricValueText(Number(3)), "3");
  EXPECT_EQ(MetricValueText(Number(-0.25)), "-0.25");
  EXPECT_EQ(MetricValueText(Number(1.0 / 3)), "0.333333");
  EXPECT_EQ(MetricValueText(Number(1e20)), "1e+20");
  EXPECT_EQ(MetricValueText(Text("two\nlines")), "two\\nlines");
  EXPECT_EQ(MetricValueText(Text("logs/images/curve-0.png", "image")), "logs/images/curve-0.png");
  EXPECT_EQ(MetricValueText(Json("{ \"a\" : [1, 2] }", "table")), "{\"a\":[1,2]}");
}

TEST(MetricValueTextTest, LongValuesAreCutWithAnEllipsisNeverInsideACharacter) {
  EXPECT_EQ(MetricValueText(Text("abcdefghij"), 5), "abcd…");
  EXPECT_EQ(MetricValueText(Text("ééééé"), 3), "éé…");
  EXPECT_EQ(MetricValueText(Text("abc"), 3), "abc");
}

TEST(MetricValueToJsonTest, KeepsTypesAndStepAndParsesJsonValues) {
  runyard::v1::MetricValue stepped = Number(0.5, 4);
  stepped.set_has_step(true);
  stepped.set_step(40);
  const nlohmann::json number = MetricValueToJson(stepped);
  EXPECT_EQ(number["seq"], 4);
  EXPECT_EQ(number["step"], 40);
  EXPECT_EQ(number["value"], 0.5);
  EXPECT_EQ(number["kind"], "scalar");
  EXPECT_EQ(number["time"], 1700000000.5);
  EXPECT_TRUE(MetricValueToJson(Number(1))["step"].is_null());
  EXPECT_EQ(MetricValueToJson(Text("hello"))["value"], "hello");
  EXPECT_EQ(MetricValueToJson(Json("{\"x\": [1, 2]}", "row"))["value"],
            nlohmann::json({{"x", {1, 2}}}));
  EXPECT_EQ(MetricValueToJson(Number(NAN))["value"], "nan");
}

runyard::v1::MetricSeries Series(const std::string& name, const std::vector<double>& numbers) {
  runyard::v1::MetricSeries series;
  series.set_name(name);
  series.set_kind("scalar");
  series.set_count(static_cast<int64_t>(numbers.size()));
  if (!numbers.empty()) {
    series.set_has_numbers(true);
    series.set_min(*std::min_element(numbers.begin(), numbers.end()));
    series.set_max(*std::max_element(numbers.begin(), numbers.end()));
    *series.mutable_last() = Number(numbers.back());
  }
  return series;
}

TEST(MetricsTableTest, OneRowPerSeriesWithItsSparkline) {
  runyard::v1::MetricSeries note;
  note.set_name("note");
  note.set_kind("scalar");
  note.set_count(1);
  *note.mutable_last() = Text("done");
  const std::string table =
      MetricsTable({Series("accuracy", {0.5, 0.75, 0.875}), Series("loss", {0.9, 0.3}), note},
                   {{"accuracy", "▁▅█"}, {"loss", "█▁"}});
  EXPECT_EQ(table,
            "NAME      KIND    COUNT  LAST   MIN  MAX    TREND\n"
            "accuracy  scalar  3      0.875  0.5  0.875  ▁▅█\n"
            "loss      scalar  2      0.3    0.3  0.9    █▁\n"
            "note      scalar  1      done   -    -\n");
}

TEST(MetricsTableTest, ValuesRowsShowSeqStepTimeAndValue) {
  runyard::v1::MetricValue value = Number(0.25, 7);
  value.set_has_step(true);
  value.set_step(3);
  EXPECT_EQ(SeriesValueRow(value), "7        3        2023-11-14T22:13:20.500Z 0.25\n");
  runyard::v1::MetricSeries series = Series("loss", {0.9, 0.25});
  series.set_description("training loss");
  EXPECT_THAT(SeriesHeading(series),
              HasSubstr("loss (scalar, 2 values, min 0.25, max 0.9): training loss\n"));
}

runyard::v1::MetricValue Ranked(double number, int rank) {
  runyard::v1::MetricValue value = Number(number);
  value.set_rank(rank);
  return value;
}

TEST(MetricValueToJsonTest, RankOnlyOnValuesThatHaveOne) {
  EXPECT_FALSE(MetricValueToJson(Number(1)).contains("rank"));
  EXPECT_EQ(MetricValueToJson(Ranked(1, 0))["rank"], 0);
  EXPECT_EQ(MetricValueToJson(Ranked(1, 3))["rank"], 3);
}

TEST(MetricsTableTest, RankRangesAreCompact) {
  EXPECT_EQ(RankRanges({}), "");
  EXPECT_EQ(RankRanges({0}), "0");
  EXPECT_EQ(RankRanges({0, 1, 2, 3}), "0-3");
  EXPECT_EQ(RankRanges({0, 2, 5, 6, 7}), "0,2,5-7");
  EXPECT_EQ(RankRanges({1, 2, 4, 5}), "1-2,4-5");
}

TEST(MetricsTableTest, ARanksColumnWhenSeriesHaveRanks) {
  const std::string table =
      MetricsTable({Series("accuracy", {0.5}), Series("loss", {0.9, 0.3})}, {}, {{"loss", "0-3"}});
  EXPECT_EQ(table,
            "NAME      KIND    COUNT  RANKS  LAST  MIN  MAX  TREND\n"
            "accuracy  scalar  1      -      0.5   0.5  0.5\n"
            "loss      scalar  2      0-3    0.3   0.3  0.9\n");
}

TEST(MetricsTableTest, ValueRowsShowTheRankOfADistributedRun) {
  runyard::v1::MetricValue value = Ranked(0.25, 2);
  value.set_seq(7);
  value.set_wall_time(1700000000.5);
  EXPECT_EQ(SeriesValueRow(value, /*with_rank=*/true),
            "7        -        2      2023-11-14T22:13:20.500Z 0.25\n");
  runyard::v1::MetricValue single = Number(0.5, 8);
  EXPECT_THAT(SeriesValueRow(single, /*with_rank=*/true), HasSubstr("8        -        -      "));
  runyard::v1::MetricSeries series = Series("loss", {0.9, 0.25});
  EXPECT_THAT(SeriesHeading(series, true, /*with_rank=*/true), HasSubstr("# "));
  EXPECT_THAT(SeriesHeading(series, true, /*with_rank=*/true), HasSubstr(" RANK "));
  series.set_count(1);
  EXPECT_THAT(SeriesHeading(series, true, false, /*of_rank=*/3),
              HasSubstr("loss (scalar, 1 value of rank 3, min 0.25, max 0.9)"));
  EXPECT_THAT(SeriesHeading(series, false, false, /*of_rank=*/3),
              HasSubstr("loss (scalar, rank 3)"));
}

TEST(MetricFetchTest, RankSeriesSumsUpOneRanksValues) {
  fakes::FakeMetricsBackend backend;
  for (int i = 0; i < 8; ++i) backend.Add("loss", Ranked(i * 10, i % 4));
  backend.Add("loss", Number(99));  // no rank: not any rank's
  backend.Add("loss", Ranked(NAN, 1));
  absl::StatusOr<std::vector<runyard::v1::MetricSeries>> series = FetchSeries(backend, "run-1");
  ASSERT_TRUE(series.ok());
  std::vector<double> numbers;
  absl::StatusOr<runyard::v1::MetricSeries> one =
      RankSeries(backend, "run-1", series->front(), 1, &numbers);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->name(), "loss");
  EXPECT_EQ(one->count(), 3);
  EXPECT_TRUE(one->has_numbers());
  EXPECT_DOUBLE_EQ(one->min(), 10);  // NaN left out, as the server leaves it out
  EXPECT_DOUBLE_EQ(one->max(), 50);
  EXPECT_TRUE(std::isnan(one->last().number()));
  ASSERT_EQ(numbers.size(), 3u);
  EXPECT_DOUBLE_EQ(numbers[0], 10);
  absl::StatusOr<runyard::v1::MetricSeries> none = RankSeries(backend, "run-1", series->front(), 7);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->count(), 0);
  EXPECT_FALSE(none->has_numbers());
}

TEST(MetricFetchTest, SparklineSamplesGatherTheRanks) {
  fakes::FakeMetricsBackend backend;
  for (int i = 0; i < 12; ++i) backend.Add("loss", Ranked(i, i % 3));
  runyard::v1::MetricValue text = Text("n/a");
  text.set_rank(5);
  backend.Add("note", text);
  backend.AddNumbers("plain", {1, 2});
  absl::StatusOr<std::vector<runyard::v1::MetricSeries>> series = FetchSeries(backend, "run-1");
  ASSERT_TRUE(series.ok());
  std::map<std::string, std::set<int32_t>> ranks;
  for (const auto& one : *series) {
    absl::StatusOr<std::vector<double>> numbers =
        SparklineSamples(backend, "run-1", one, 40, &ranks[one.name()]);
    ASSERT_TRUE(numbers.ok());
    if (one.name() == "note") {
      EXPECT_TRUE(numbers->empty());
    }
  }
  EXPECT_EQ(RankRanges(ranks["loss"]), "0-2");
  EXPECT_EQ(RankRanges(ranks["note"]), "5");
  EXPECT_EQ(RankRanges(ranks["plain"]), "");
}

TEST(MetricFetchTest, PagesThroughAMillionValuesInOrder) {
  fakes::FakeMetricsBackend backend;
  std::vector<double> numbers(1'000'000);
  for (size_t i = 0; i < numbers.size(); ++i) numbers[i] = static_cast<double>(i);
  backend.AddNumbers("loss", numbers);
  int64_t expected = 0;
  bool in_order = true;
  absl::StatusOr<int64_t> next =
      ForEachValuePage(backend, "run-1", "loss", 0, [&](const auto& values) {
        for (const auto& value : values) in_order = in_order && value.seq() == expected++;
        return absl::OkStatus();
      });
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, 1'000'000);
  EXPECT_EQ(expected, 1'000'000);
  EXPECT_TRUE(in_order);
  // Pages, not one message: every call asked for at most 10,000.
  EXPECT_EQ(backend.requests.size(), 100u);
  for (const auto& request : backend.requests) EXPECT_LE(request.max_values(), 10000);
}

TEST(MetricFetchTest, APageTooLargeForOneMessageIsAskedForInHalves) {
  fakes::FakeMetricsBackend backend;
  backend.AddNumbers("loss", std::vector<double>(5000, 1.0));
  backend.max_page_values = 3000;
  int64_t seen = 0;
  absl::StatusOr<int64_t> next =
      ForEachValuePage(backend, "run-1", "loss", 0, [&](const auto& values) {
        seen += static_cast<int64_t>(values.size());
        return absl::OkStatus();
      });
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(seen, 5000);
}

TEST(MetricFetchTest, FollowingGoesOnFromWhereItLeft) {
  fakes::FakeMetricsBackend backend;
  backend.AddNumbers("loss", {1, 2, 3});
  std::vector<double> seen;
  auto collect = [&](const auto& values) {
    for (const auto& value : values) seen.push_back(value.number());
    return absl::OkStatus();
  };
  absl::StatusOr<int64_t> next = ForEachValuePage(backend, "run-1", "loss", 0, collect);
  ASSERT_TRUE(next.ok());
  backend.AddNumbers("loss", {4, 5});
  next = ForEachValuePage(backend, "run-1", "loss", *next, collect);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, 5);
  EXPECT_THAT(seen, ElementsAre(1, 2, 3, 4, 5));
}

TEST(MetricFetchTest, AnUnknownSeriesNamesTheOnesTheRunHas) {
  fakes::FakeMetricsBackend backend;
  backend.AddNumbers("loss", {1});
  backend.AddNumbers("accuracy", {1});
  absl::StatusOr<std::vector<runyard::v1::MetricSeries>> series =
      FetchSeries(backend, "run-1", "los");
  EXPECT_TRUE(absl::IsNotFound(series.status()));
  EXPECT_EQ(series.status().message(),
            "run run-1 has no metric named 'los' (it has: accuracy, loss)");
  EXPECT_TRUE(absl::IsNotFound(FetchSeries(backend, "run-x").status()));
}

TEST(MetricFetchTest, SparklineOfAMillionValuesSamplesEachColumnWithFewCalls) {
  fakes::FakeMetricsBackend backend;
  std::vector<double> numbers(1'000'000);
  for (size_t i = 0; i < numbers.size(); ++i) numbers[i] = static_cast<double>(i);
  backend.AddNumbers("loss", numbers);
  absl::StatusOr<std::vector<runyard::v1::MetricSeries>> series = FetchSeries(backend, "run-1");
  ASSERT_TRUE(series.ok());
  backend.requests.clear();
  absl::StatusOr<std::vector<double>> samples =
      SparklineSamples(backend, "run-1", series->front(), 40);
  ASSERT_TRUE(samples.ok());
  ASSERT_EQ(samples->size(), 40u);
  EXPECT_TRUE(std::is_sorted(samples->begin(), samples->end()));
  EXPECT_EQ(backend.requests.size(), 40u);
  EXPECT_EQ(Sparkline(*samples, 40).substr(0, 3), "▁");
}

TEST(MetricFetchTest, SparklineSkipsTextValues) {
  fakes::FakeMetricsBackend backend;
  backend.AddNumbers("mixed", {1, 2});
  backend.Add("mixed", Text("n/a"));
  backend.AddNumbers("mixed", {3});
  absl::StatusOr<std::vector<runyard::v1::MetricSeries>> series = FetchSeries(backend, "run-1");
  ASSERT_TRUE(series.ok());
  absl::StatusOr<std::vector<double>> samples =
      SparklineSamples(backend, "run-1", series->front(), 40);
  ASSERT_TRUE(samples.ok());
  EXPECT_THAT(*samples, ElementsAre(1, 2, 3));
}

}  // namespace
}  // namespace runyard::cli
