// Tests for common::CheckedMetrics (common/metrics.h): updates pass to the registry, and a
// refused one is logged once per metric, not at every scrape.

#include "common/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/recording_log.h"

namespace runyard::common {
namespace {

using ::runyard::fakes::RecordingLog;
using ::testing::HasSubstr;
using ::testing::SizeIs;

TEST(CheckedMetricsTest, UpdatesReachTheRegistry) {
  MetricsRegistry registry;
  CheckedMetrics checked(registry, "checked-metrics-test");
  checked.Describe("runyard_test_things_total", MetricType::kCounter, "Things.");
  checked.Add("runyard_test_things_total", {}, 2);
  EXPECT_THAT(registry.Render(), HasSubstr("runyard_test_things_total 2"));
}

TEST(CheckedMetricsTest, LogsTheFirstFailureOfEachMetricOnce) {
  RecordingLog log("checked-metrics-test-once");
  MetricsRegistry registry;
  CheckedMetrics checked(registry, "checked-metrics-test-once");
  checked.Set("runyard_test_undescribed_a", {}, 1);  // not described: refused
  checked.Set("runyard_test_undescribed_a", {}, 2);
  EXPECT_THAT(log.lines(), SizeIs(1));
  checked.Add("runyard_test_undescribed_b", {});
  ASSERT_THAT(log.lines(), SizeIs(2));
  EXPECT_THAT(log.lines()[0], HasSubstr("runyard_test_undescribed_a"));
  EXPECT_THAT(log.lines()[1], HasSubstr("runyard_test_undescribed_b"));
  checked.Describe("runyard_test_fine", MetricType::kGauge, "Fine.");
  checked.Set("runyard_test_fine", {}, 1);
  EXPECT_THAT(log.lines(), SizeIs(2));
}

}  // namespace
}  // namespace runyard::common
