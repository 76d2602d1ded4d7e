// The store suite (tests/unit/store_suite.h), metric series: values numbered in the order
// they are appended, summaries (count, min, max, last value, kind, description), paged
// reads, counts per run, and a million values appended in batches.

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "tests/unit/store_suite.h"

namespace runyard::server::test_support {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

runyard::v1::MetricValue Number(double number, const std::string& kind = "scalar",
                                double wall_time = 1.5) {
  runyard::v1::MetricValue value;
  value.set_number(number);
  value.set_kind(kind);
  value.set_wall_time(wall_time);
  return value;
}

runyard::v1::MetricValue Text(const std::string& text, const std::string& kind = "scalar") {
  runyard::v1::MetricValue value;
  value.set_text(text);
  value.set_kind(kind);
  value.set_wall_time(2.5);
  return value;
}

runyard::v1::MetricValue Json(const std::string& json, const std::string& kind) {
  runyard::v1::MetricValue value;
  value.set_json(json);
  value.set_kind(kind);
  value.set_wall_time(3.5);
  return value;
}

MetricAppend Append(const std::string& run_id, const std::string& name,
                    std::vector<runyard::v1::MetricValue> values,
                    const std::string& description = "") {
  return MetricAppend{run_id, name, description, std::move(values)};
}

std::vector<int64_t> Seqs(const std::vector<runyard::v1::MetricValue>& values) {
  std::vector<int64_t> seqs;
  for (const auto& value : values) seqs.push_back(value.seq());
  return seqs;
}

std::vector<double> Numbers(const std::vector<runyard::v1::MetricValue>& values) {
  std::vector<double> numbers;
  for (const auto& value : values) numbers.push_back(value.number());
  return numbers;
}

std::vector<std::string> Names(const std::vector<runyard::v1::MetricSeries>& series) {
  std::vector<std::string> names;
  for (const auto& one : series) names.push_back(one.name());
  return names;
}

TEST_P(StoreSuite, ValuesAreNumberedInAppendOrderAcrossCalls) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  ASSERT_TRUE(store().AppendMetrics({Append("run_1", "loss", {Number(0.9), Number(0.7)})}).ok());
  ASSERT_TRUE(store().AppendMetrics({Append("run_1", "loss", {Number(0.8)})}).ok());

  absl::StatusOr<std::vector<runyard::v1::MetricValue>> values =
      store().MetricValues("run_1", "loss", 0, 100);
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_THAT(Seqs(*values), ElementsAre(0, 1, 2));
  EXPECT_THAT(Numbers(*values), ElementsAre(0.9, 0.7, 0.8));
}

TEST_P(StoreSuite, OneCallAppendsToSeveralSeriesInOrder) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  ASSERT_TRUE(store()
                  .AppendMetrics({Append("run_1", "loss", {Number(1)}),
                                  Append("run_1", "acc", {Number(0.5)}),
                                  Append("run_1", "loss", {Number(2)})})
                  .ok());
  absl::StatusOr<std::vector<runyard::v1::MetricValue>> loss =
      store().MetricValues("run_1", "loss", 0, 100);
  ASSERT_TRUE(loss.ok()) << loss.status();
  EXPECT_THAT(Seqs(*loss), ElementsAre(0, 1));
  EXPECT_THAT(Numbers(*loss), ElementsAre(1, 2));
  absl::StatusOr<std::vector<runyard::v1::MetricValue>> acc =
      store().MetricValues("run_1", "acc", 0, 100);
  ASSERT_TRUE(acc.ok()) << acc.status();
  EXPECT_THAT(Seqs(*acc), ElementsAre(0));
}

TEST_P(StoreSuite, ValuesKeepTheirTypeStepKindAndTime) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  runyard::v1::MetricValue stepped = Number(0.25);
  stepped.set_has_step(true);
  stepped.set_step(0);  // step 0 is a step, not its absence
  ASSERT_TRUE(store()
                  .AppendMetrics({Append("run_1", "mixed",
                                         {stepped, Text("warmup"), Json(R"({"a":[1,2]})", "table"),
                                          Text("logs/images/curve-0.png", "image")})})
                  .ok());
  absl::StatusOr<std::vector<runyard::v1::MetricValue>> values =
      store().MetricValues("run_1", "mixed", 0, 100);
  ASSERT_TRUE(values.ok()) << values.status();
  ASSERT_EQ(values->size(), 4u);
  const auto& v = *values;
  EXPECT_EQ(v[0].value_case(), runyard::v1::MetricValue::kNumber);
  EXPECT_EQ(v[0].number(), 0.25);
  EXPECT_TRUE(v[0].has_step());
  EXPECT_EQ(v[0].step(), 0);
  EXPECT_EQ(v[0].wall_time(), 1.5);
  EXPECT_EQ(v[0].kind(), "scalar");
  EXPECT_EQ(v[1].value_case(), runyard::v1::MetricValue::kText);
  EXPECT_EQ(v[1].text(), "warmup");
  EXPECT_FALSE(v[1].has_step());
  EXPECT_EQ(v[2].value_case(), runyard::v1::MetricValue::kJson);
  EXPECT_EQ(v[2].json(), R"({"a":[1,2]})");
  EXPECT_EQ(v[2].kind(), "table");
  EXPECT_EQ(v[2].wall_time(), 3.5);
  EXPECT_EQ(v[3].text(), "logs/images/curve-0.png");
  EXPECT_EQ(v[3].kind(), "image");
}

TEST_P(StoreSuite, ValuesKeepTheRankThatLoggedThem) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  std::vector<runyard::v1::MetricValue> values;
  for (int rank : {0, 3, 2147483647}) {
    values.push_back(Number(rank * 10.0));
    values.back().set_rank(rank);
  }
  values.push_back(Number(7));  // no rank: a single process's value
  ASSERT_TRUE(store().AppendMetrics({Append("run_1", "loss", values)}).ok());
  absl::StatusOr<std::vector<runyard::v1::MetricValue>> read =
      store().MetricValues("run_1", "loss", 0, 100);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 4u);
  EXPECT_TRUE((*read)[0].has_rank());
  EXPECT_EQ((*read)[0].rank(), 0);  // rank 0 is a rank, not its absence
  EXPECT_EQ((*read)[1].rank(), 3);
  EXPECT_EQ((*read)[2].rank(), 2147483647);
  EXPECT_FALSE((*read)[3].has_rank());

  runyard::v1::MetricValue last = Number(1);
  last.set_rank(1);
  ASSERT_TRUE(store().AppendMetrics({Append("run_1", "loss", {last})}).ok());
  absl::StatusOr<std::vector<runyard::v1::MetricSeries>> summaries =
      store().MetricSummaries("run_1", "loss");
  ASSERT_TRUE(summaries.ok()) << summaries.status();
  ASSERT_EQ(summaries->size(), 1u);
  EXPECT_TRUE(summaries->front().last().has_rank());
  EXPECT_EQ(summaries->front().last().rank(), 1);
}

TEST_P(StoreSuite, SummaryHasCountMinMaxLastKindAndFirstDescription) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  ASSERT_TRUE(store()
                  .AppendMetrics({Append("run_1", "loss", {Number(3, "list"), Number(-1, "list")},
                                         "training loss")})
                  .ok());
  ASSERT_TRUE(
      store().AppendMetrics({Append("run_1", "loss", {Text("nan"), Number(2)}, "ignored")}).ok());

  absl::StatusOr<std::vector<runyard::v1::MetricSeries>> series =
      store().MetricSummaries("run_1", "");
  ASSERT_TRUE(series.ok()) << series.status();
  ASSERT_EQ(series->size(), 1u);
  const runyard::v1::MetricSeries& loss = series->front();
  EXPECT_EQ(loss.run_id(), "run_1");
  EXPECT_EQ(loss.name(), "loss");
  EXPECT_EQ(loss.kind(), "list");  // of the first value
  EXPECT_EQ(loss.description(), "training loss");
  EXPECT_EQ(loss.count(), 4);
  EXPECT_TRUE(loss.has_numbers());
  EXPECT_EQ(loss.min(), -1);
  EXPECT_EQ(loss.max(), 3);
  EXPECT_EQ(loss.last().seq(), 3);
  EXPECT_EQ(loss.last().number(), 2);
  EXPECT_EQ(loss.last().kind(), "scalar");
  EXPECT_EQ(loss.values_size(), 0);  // summaries come without values
}

TEST_P(StoreSuite, SummaryOfASeriesWithoutNumbersHasNone) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  ASSERT_TRUE(store().AppendMetrics({Append("run_1", "phase", {Text("a"), Text("b")})}).ok());
  absl::StatusOr<std::vector<runyard::v1::MetricSeries>> series =
      store().MetricSummaries("run_1", "phase");
  ASSERT_TRUE(series.ok()) << series.status();
  ASSERT_EQ(series->size(), 1u);
  EXPECT_FALSE(series->front().has_numbers());
  EXPECT_EQ(series->front().last().text(), "b");
}

TEST_P(StoreSuite, NonFiniteNumbersReadBackAndNaNStaysOutOfMinAndMax) {
  const double inf = std::numeric_limits<double>::infinity();
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  ASSERT_TRUE(store()
                  .AppendMetrics({Append("run_1", "loss",
                                         {Number(std::numeric_limits<double>::quiet_NaN()),
                                          Number(1), Number(inf), Number(-inf)})})
                  .ok());

  absl::StatusOr<std::vector<runyard::v1::MetricValue>> values =
      store().MetricValues("run_1", "loss", 0, 0);
  ASSERT_TRUE(values.ok()) << values.status();
  ASSERT_EQ(values->size(), 4u);
  for (const auto& value : *values) EXPECT_TRUE(value.has_number()) << value.DebugString();
  EXPECT_TRUE(std::isnan((*values)[0].number()));
  EXPECT_EQ((*values)[1].number(), 1);
  EXPECT_EQ((*values)[2].number(), inf);
  EXPECT_EQ((*values)[3].number(), -inf);

  absl::StatusOr<std::vector<runyard::v1::MetricSeries>> series =
      store().MetricSummaries("run_1", "loss");
  ASSERT_TRUE(series.ok()) << series.status();
  ASSERT_EQ(series->size(), 1u);
  EXPECT_EQ(series->front().count(), 4);
  EXPECT_TRUE(series->front().has_numbers());
  EXPECT_EQ(series->front().min(), -inf);  // ±Inf count; NaN has no order
  EXPECT_EQ(series->front().max(), inf);
  EXPECT_EQ(series->front().last().number(), -inf);
}

TEST_P(StoreSuite, ASeriesOfOnlyNaNHasNoMinOrMaxButItsLastValue) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  ASSERT_TRUE(
      store()
          .AppendMetrics({Append("run_1", "loss", {Number(std::numeric_limits<double>::quiet_NaN())})})
          .ok());
  // A later append continues from what the series row says: NaN must not poison it.
  ASSERT_TRUE(store().AppendMetrics({Append("run_1", "loss", {Number(5), Number(2)})}).ok());
  absl::StatusOr<std::vector<runyard::v1::MetricSeries>> series =
      store().MetricSummaries("run_1", "loss");
  ASSERT_TRUE(series.ok()) << series.status();
  ASSERT_EQ(series->size(), 1u);
  EXPECT_EQ(series->front().min(), 2);
  EXPECT_EQ(series->front().max(), 5);

  ASSERT_TRUE(store().InsertRun(QueuedRun("run_2")).ok());
  ASSERT_TRUE(
      store()
          .AppendMetrics({Append("run_2", "loss", {Number(std::numeric_limits<double>::quiet_NaN())})})
          .ok());
  series = store().MetricSummaries("run_2", "loss");
  ASSERT_TRUE(series.ok()) << series.status();
  ASSERT_EQ(series->size(), 1u);
  EXPECT_FALSE(series->front().has_numbers());
  EXPECT_TRUE(std::isnan(series->front().last().number()));
}

TEST_P(StoreSuite, SummariesByNameOrOnlyTheOneNamed) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_2")).ok());
  ASSERT_TRUE(
      store()
          .AppendMetrics({Append("run_1", "loss", {Number(1)}), Append("run_1", "acc", {Number(2)}),
                          Append("run_2", "other", {Number(3)})})
          .ok());
  absl::StatusOr<std::vector<runyard::v1::MetricSeries>> all = store().MetricSummaries("run_1", "");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(Names(*all), ElementsAre("acc", "loss"));
  absl::StatusOr<std::vector<runyard::v1::MetricSeries>> one =
      store().MetricSummaries("run_1", "loss");
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_THAT(Names(*one), ElementsAre("loss"));
  absl::StatusOr<std::vector<runyard::v1::MetricSeries>> none =
      store().MetricSummaries("run_1", "missing");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_THAT(*none, IsEmpty());
}

TEST_P(StoreSuite, ValuesArePagedBySeq) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  std::vector<runyard::v1::MetricValue> ten;
  for (int i = 0; i < 10; ++i) ten.push_back(Number(i));
  ASSERT_TRUE(store().AppendMetrics({Append("run_1", "x", ten)}).ok());

  absl::StatusOr<std::vector<runyard::v1::MetricValue>> first =
      store().MetricValues("run_1", "x", 0, 4);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(Seqs(*first), ElementsAre(0, 1, 2, 3));
  absl::StatusOr<std::vector<runyard::v1::MetricValue>> next =
      store().MetricValues("run_1", "x", first->back().seq() + 1, 4);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_THAT(Seqs(*next), ElementsAre(4, 5, 6, 7));
  absl::StatusOr<std::vector<runyard::v1::MetricValue>> last =
      store().MetricValues("run_1", "x", 8, 4);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_THAT(Numbers(*last), ElementsAre(8, 9));
  absl::StatusOr<std::vector<runyard::v1::MetricValue>> past =
      store().MetricValues("run_1", "x", 10, 4);
  ASSERT_TRUE(past.ok()) << past.status();
  EXPECT_THAT(*past, IsEmpty());
  absl::StatusOr<std::vector<runyard::v1::MetricValue>> unknown =
      store().MetricValues("run_1", "nope", 0, 4);
  ASSERT_TRUE(unknown.ok()) << unknown.status();
  EXPECT_THAT(*unknown, IsEmpty());
}

TEST_P(StoreSuite, CountIsPerRunOverEverySeries) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_2")).ok());
  ASSERT_TRUE(
      store()
          .AppendMetrics({Append("run_1", "a", {Number(1), Number(2)}),
                          Append("run_1", "b", {Number(3)}), Append("run_2", "a", {Number(4)})})
          .ok());
  absl::StatusOr<int64_t> count = store().CountMetricValues("run_1");
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, 3);
  count = store().CountMetricValues("run_2");
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, 1);
  count = store().CountMetricValues("run_none");
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, 0);
}

TEST_P(StoreSuite, AppendToAnUnknownRunIsNotFoundAndWritesNothing) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  absl::Status appended = store().AppendMetrics(
      {Append("run_1", "loss", {Number(1)}), Append("nope", "loss", {Number(2)})});
  EXPECT_EQ(appended.code(), absl::StatusCode::kNotFound) << appended;
  absl::StatusOr<int64_t> count = store().CountMetricValues("run_1");
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, 0);  // the call is one transaction
}

TEST_P(StoreSuite, AppendsInsideATransactionCommitTogether) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  absl::Status failed = store().InTransaction([&](Store& txn) -> absl::Status {
    if (absl::Status s = txn.AppendMetrics({Append("run_1", "loss", {Number(1)})}); !s.ok()) {
      return s;
    }
    return absl::AbortedError("changed my mind");
  });
  EXPECT_EQ(failed.code(), absl::StatusCode::kAborted);
  absl::StatusOr<std::vector<runyard::v1::MetricSeries>> series =
      store().MetricSummaries("run_1", "");
  ASSERT_TRUE(series.ok()) << series.status();
  EXPECT_THAT(*series, IsEmpty());
}

TEST_P(StoreSuite, AnotherHandleContinuesTheSeries) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  ASSERT_TRUE(store().AppendMetrics({Append("run_1", "loss", {Number(1), Number(2)})}).ok());
  absl::StatusOr<std::unique_ptr<Store>> other = OpenAnother();
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE((*other)->AppendMetrics({Append("run_1", "loss", {Number(3)})}).ok());
  absl::StatusOr<std::vector<runyard::v1::MetricValue>> values =
      store().MetricValues("run_1", "loss", 0, 100);
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_THAT(Seqs(*values), ElementsAre(0, 1, 2));
  EXPECT_THAT(Numbers(*values), ElementsAre(1, 2, 3));
}

// What the record ingest does with a log_list of a million values: one call per batch of
// 10,000, each in its own transaction. The time is printed for the record, not asserted.
TEST_P(StoreSuite, AMillionValuesAppendInBatches) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  constexpr int kBatches = 100;
  constexpr int kBatch = 10000;
  std::chrono::duration<double> appending{0};
  for (int batch = 0; batch < kBatches; ++batch) {
    MetricAppend append{"run_1", "big", "", {}};
    append.values.reserve(kBatch);
    for (int i = 0; i < kBatch; ++i) {
      append.values.push_back(Number(batch * kBatch + i, "list", 1700000000.0 + batch));
    }
    const auto start = std::chrono::steady_clock::now();  // the store's time only
    ASSERT_TRUE(
        store().InTransaction([&](Store& txn) { return txn.AppendMetrics({append}); }).ok());
    appending += std::chrono::steady_clock::now() - start;
  }
  const double seconds = appending.count();
  std::printf("[ timing ] %s: 1,000,000 values in %d batches appended in %.2f s\n",
              GetParam().name.c_str(), kBatches, seconds);

  absl::StatusOr<std::vector<runyard::v1::MetricSeries>> series =
      store().MetricSummaries("run_1", "big");
  ASSERT_TRUE(series.ok()) << series.status();
  ASSERT_EQ(series->size(), 1u);
  EXPECT_EQ(series->front().count(), kBatches * kBatch);
  EXPECT_EQ(series->front().min(), 0);
  EXPECT_EQ(series->front().max(), kBatches * kBatch - 1);
  EXPECT_EQ(series->front().last().seq(), kBatches * kBatch - 1);
  absl::StatusOr<std::vector<runyard::v1::MetricValue>> page =
      store().MetricValues("run_1", "big", 654321, 2);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(Numbers(*page), ElementsAre(654321, 654322));
}

}  // namespace
}  // namespace runyard::server::test_support
