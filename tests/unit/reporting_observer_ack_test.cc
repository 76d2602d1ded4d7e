// Tests for ReportingObserver::WhenAcknowledged (runtime/reporting_observer.h): the in-run
// API's `committed` waits on it, so it must fire only once the control plane has taken
// everything spooled before the call, and never for bytes it did not take.

#include <chrono>
#include <future>
#include <string>

#include "gtest/gtest.h"
#include "runtime/reporting_observer.h"
#include "tests/fakes/gated_reporter.h"

namespace runyard::runtime {
namespace {

using ::runyard::fakes::GatedReporter;
using namespace std::chrono_literals;

constexpr char kRecords[] = "system_logs/run_records.jsonl";

runyard::v1::Lease LeaseOf(const std::string& run_id) {
  runyard::v1::Lease lease;
  lease.set_run_id(run_id);
  return lease;
}

TEST(ReportingObserverAckTest, FiresOnlyAfterTheControlPlaneAcknowledged) {
  GatedReporter reporter;
  CancelToken cancel;
  ReportingObserver observer(&reporter, LeaseOf("run_1"), &cancel);
  const std::string line = "{\"k\":\"tag\",\"tags\":{\"a\":\"1\"}}\n";
  observer.OnFileBytes(kRecords, 0, line, false);
  std::promise<std::string> acknowledged;
  observer.WhenAcknowledged(
      [&] { acknowledged.set_value(reporter.file(kRecords)); });  // what the server had then
  std::future<std::string> seen = acknowledged.get_future();

  ASSERT_TRUE(reporter.WaitForHeldCall(10s));  // the report is in flight, not answered
  EXPECT_EQ(seen.wait_for(0s), std::future_status::timeout);
  reporter.Open();
  ASSERT_EQ(seen.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(seen.get(), line);
}

TEST(ReportingObserverAckTest, FiresAtOnceWhenNothingIsUnsent) {
  GatedReporter reporter;
  reporter.Open();
  CancelToken cancel;
  ReportingObserver observer(&reporter, LeaseOf("run_2"), &cancel);
  bool called = false;
  observer.WhenAcknowledged([&] { called = true; });
  EXPECT_TRUE(called);
}

TEST(ReportingObserverAckTest, CallbacksFireInOrderAsTheirBytesAreTaken) {
  GatedReporter reporter;
  reporter.Open();
  CancelToken cancel;
  ReportingObserver observer(&reporter, LeaseOf("run_3"), &cancel);
  std::string order;
  std::mutex mutex;
  std::promise<void> last;
  for (int i = 0; i < 5; ++i) {
    observer.OnFileBytes(kRecords, i * 2, std::to_string(i) + "\n", false);
    observer.WhenAcknowledged([&, i] {
      std::lock_guard lock(mutex);
      order += std::to_string(i);
      if (i == 4) last.set_value();
    });
  }
  ASSERT_EQ(last.get_future().wait_for(10s), std::future_status::ready);
  std::lock_guard lock(mutex);
  EXPECT_EQ(order, "01234");
}

TEST(ReportingObserverAckTest, DroppedWhenTheBytesAreNeverTaken) {
  GatedReporter reporter;
  reporter.Refuse(absl::FailedPreconditionError("lease lost"));
  CancelToken cancel;
  bool called = false;
  {
    ReportingObserver observer(&reporter, LeaseOf("run_4"), &cancel);
    observer.OnFileBytes(kRecords, 0, "{}\n", false);
    observer.WhenAcknowledged([&] { called = true; });
    reporter.Open();
    EXPECT_FALSE(observer.Drain());  // the sender stopped: the lease is not ours
    bool late = false;
    observer.WhenAcknowledged([&] { late = true; });  // after the sender gave up
    EXPECT_FALSE(late);
  }  // destroyed without hanging
  EXPECT_FALSE(called);
  EXPECT_TRUE(cancel.requested());
}

TEST(ReportingObserverAckTest, DroppedWhenTheObserverGoesFirst) {
  GatedReporter reporter;
  reporter.Refuse(absl::UnavailableError("server down"));  // retried until stopped
  reporter.Open();
  CancelToken cancel;
  bool called = false;
  {
    ReportingObserver observer(&reporter, LeaseOf("run_5"), &cancel);
    observer.OnFileBytes(kRecords, 0, "{}\n", false);
    observer.WhenAcknowledged([&] { called = true; });
  }
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace runyard::runtime
