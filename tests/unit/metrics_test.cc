// Tests for common/metrics.h: the Prometheus text a MetricsRegistry renders (families,
// labels, escaping, numbers), refused misuse, collectors run at scrape, and updates from
// several threads.

#include "common/metrics.h"

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace runyard::common {
namespace {

using ::testing::HasSubstr;

TEST(MetricsRegistryTest, RendersFamiliesByNameWithHelpTypeAndSortedSamples) {
  MetricsRegistry registry;
  ASSERT_TRUE(registry.Describe("runyard_runs_total", MetricType::kCounter, "Runs finished.").ok());
  ASSERT_TRUE(registry.Describe("runyard_free_slots", MetricType::kGauge, "Slots free now.").ok());
  ASSERT_TRUE(registry.Add("runyard_runs_total", {{"status", "Failed"}, {"pool", "gpu"}}, 2).ok());
  ASSERT_TRUE(registry.Add("runyard_runs_total", {{"status", "Completed"}, {"pool", "gpu"}}).ok());
  ASSERT_TRUE(registry.Set("runyard_free_slots", {}, 3).ok());

  EXPECT_EQ(registry.Render(),
            "# HELP runyard_free_slots Slots free now.\n"
            "# TYPE runyard_free_slots gauge\n"
            "runyard_free_slots 3\n"
            "# HELP runyard_runs_total Runs finished.\n"
            "# TYPE runyard_runs_total counter\n"
            "runyard_runs_total{pool=\"gpu\",status=\"Completed\"} 1\n"
            "runyard_runs_total{pool=\"gpu\",status=\"Failed\"} 2\n");
}

TEST(MetricsRegistryTest, FamilyWithoutSamplesRendersHelpAndTypeOnly) {
  MetricsRegistry registry;
  ASSERT_TRUE(registry.Describe("runyard_leases_expired_total", MetricType::kCounter, "Leases expired.").ok());
  EXPECT_EQ(registry.Render(),
            "# HELP runyard_leases_expired_total Leases expired.\n"
            "# TYPE runyard_leases_expired_total counter\n");
}

TEST(MetricsRegistryTest, EscapesHelpAndLabelValues) {
  MetricsRegistry registry;
  ASSERT_TRUE(registry.Describe("m", MetricType::kGauge, "a \\ b\nc \"d\"").ok());
  ASSERT_TRUE(registry.Set("m", {{"path", "C:\\dir\n\"x\""}}, 1).ok());
  EXPECT_EQ(registry.Render(),
            "# HELP m a \\\\ b\\nc \"d\"\n"  // HELP keeps double quotes as they are
            "# TYPE m gauge\n"
            "m{path=\"C:\\\\dir\\n\\\"x\\\"\"} 1\n");
}

TEST(MetricsRegistryTest, CountersAccumulate) {
  MetricsRegistry registry;
  ASSERT_TRUE(registry.Describe("bytes_total", MetricType::kCounter, "Bytes.").ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(registry.Add("bytes_total", {}, 1000).ok());
  ASSERT_TRUE(registry.Add("bytes_total", {}, 0.5).ok());
  EXPECT_THAT(registry.Render(), HasSubstr("\nbytes_total 10000.5\n"));
}

TEST(MetricsRegistryTest, GaugesSetAndAdd) {
  MetricsRegistry registry;
  ASSERT_TRUE(registry.Describe("in_flight", MetricType::kGauge, "In flight.").ok());
  ASSERT_TRUE(registry.Set("in_flight", {}, 5).ok());
  ASSERT_TRUE(registry.Add("in_flight", {}, -2).ok());
  EXPECT_THAT(registry.Render(), HasSubstr("\nin_flight 3\n"));
}

TEST(MetricsRegistryTest, FormatsNumbersTheWayPrometheusParsesThem) {
  MetricsRegistry registry;
  ASSERT_TRUE(registry.Describe("v", MetricType::kGauge, "Values.").ok());
  const std::vector<std::pair<std::string, double>> cases = {
      {"big_int", 9007199254740992.0},  // 2^53, exact: no exponent
      {"fraction", 0.1},
      {"huge", 1e300},
      {"inf", std::numeric_limits<double>::infinity()},
      {"nan", std::numeric_limits<double>::quiet_NaN()},
      {"neg", -12},
      {"neg_inf", -std::numeric_limits<double>::infinity()},
      {"neg_zero", -0.0},
      {"tiny", 1e-7},
  };
  for (const auto& [name, value] : cases) ASSERT_TRUE(registry.Set("v", {{"case", name}}, value).ok());
  EXPECT_EQ(registry.Render(),
            "# HELP v Values.\n"
            "# TYPE v gauge\n"
            "v{case=\"big_int\"} 9007199254740992\n"
            "v{case=\"fraction\"} 0.1\n"
            "v{case=\"huge\"} 1e+300\n"
            "v{case=\"inf\"} +Inf\n"
            "v{case=\"nan\"} NaN\n"
            "v{case=\"neg\"} -12\n"
            "v{case=\"neg_inf\"} -Inf\n"
            "v{case=\"neg_zero\"} 0\n"
            "v{case=\"tiny\"} 1e-07\n");
}

TEST(MetricsRegistryTest, DescribeRefusesInvalidNamesAndNamesThem) {
  MetricsRegistry registry;
  for (const char* bad : {"", "9lives", "has-dash", "has space", "é"}) {
    absl::Status status = registry.Describe(bad, MetricType::kGauge, "x");
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(status.message(), HasSubstr("'" + std::string(bad) + "'"));
  }
  EXPECT_TRUE(registry.Describe("ok:recorded_rule_name", MetricType::kGauge, "x").ok());
  EXPECT_TRUE(registry.Describe("_leading_underscore", MetricType::kGauge, "x").ok());
}

TEST(MetricsRegistryTest, DescribeAgainIsFineOnlyWhenTheSame) {
  MetricsRegistry registry;
  ASSERT_TRUE(registry.Describe("m", MetricType::kGauge, "Help.").ok());
  EXPECT_TRUE(registry.Describe("m", MetricType::kGauge, "Help.").ok());
  EXPECT_EQ(registry.Describe("m", MetricType::kCounter, "Help.").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.Describe("m", MetricType::kGauge, "Other.").code(), absl::StatusCode::kAlreadyExists);
}

TEST(MetricsRegistryTest, RefusesMisuseAndChangesNothing) {
  MetricsRegistry registry;
  ASSERT_TRUE(registry.Describe("c_total", MetricType::kCounter, "C.").ok());
  ASSERT_TRUE(registry.Describe("g", MetricType::kGauge, "G.").ok());
  EXPECT_EQ(registry.Add("undescribed", {}, 1).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry.Add("c_total", {}, -1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Add("c_total", {}, std::nan("")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Set("c_total", {}, 5).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Set("g", {{"bad-label", "x"}}, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Set("g", {{"__reserved", "x"}}, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Set("g", {{"", "x"}}, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Render(),
            "# HELP c_total C.\n# TYPE c_total counter\n"
            "# HELP g G.\n# TYPE g gauge\n");
}

TEST(MetricsRegistryTest, CollectorsRunAtEachScrape) {
  MetricsRegistry registry;
  ASSERT_TRUE(registry.Describe("queue_length", MetricType::kGauge, "Runs queued.").ok());
  int scrapes = 0;
  registry.AddCollector([&scrapes](MetricsRegistry& metrics) {
    ++scrapes;
    metrics.ClearSamples("queue_length").IgnoreError();
    // The pool "cpu" exists only at the first scrape: its sample must go away after.
    if (scrapes == 1) metrics.Set("queue_length", {{"pool", "cpu"}}, 7).IgnoreError();
    metrics.Set("queue_length", {{"pool", "gpu"}}, scrapes * 10).IgnoreError();
  });

  EXPECT_EQ(registry.Render(),
            "# HELP queue_length Runs queued.\n# TYPE queue_length gauge\n"
            "queue_length{pool=\"cpu\"} 7\n"
            "queue_length{pool=\"gpu\"} 10\n");
  EXPECT_EQ(registry.Render(),
            "# HELP queue_length Runs queued.\n# TYPE queue_length gauge\n"
            "queue_length{pool=\"gpu\"} 20\n");
  EXPECT_EQ(scrapes, 2);
}

TEST(MetricsRegistryTest, ConcurrentUpdatesAndScrapesLoseNothing) {
  MetricsRegistry registry;
  ASSERT_TRUE(registry.Describe("events_total", MetricType::kCounter, "Events.").ok());
  ASSERT_TRUE(registry.Describe("last_thread", MetricType::kGauge, "Last writer.").ok());
  int collected = 0;
  registry.AddCollector([&collected](MetricsRegistry& metrics) { ++collected; });  // serialized by Render

  constexpr int kThreads = 4;
  constexpr int kAddsPerThread = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&registry, t] {
      const std::string thread_label = std::to_string(t % 2);
      for (int i = 0; i < kAddsPerThread; ++i) {
        ASSERT_TRUE(registry.Add("events_total", {{"half", thread_label}}).ok());
        ASSERT_TRUE(registry.Set("last_thread", {}, t).ok());
        if (i % 500 == 0) {
          ASSERT_THAT(registry.Render(), HasSubstr("# TYPE events_total counter\n"));
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("events_total{half=\"0\"} 10000\n"));
  EXPECT_THAT(text, HasSubstr("events_total{half=\"1\"} 10000\n"));
  EXPECT_EQ(collected, kThreads * (kAddsPerThread / 500) + 1);
}

}  // namespace
}  // namespace runyard::common
