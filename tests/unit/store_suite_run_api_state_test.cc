// The store suite (tests/unit/store_suite.h), what the record ingest keeps per run: how far
// the record channel was read, and the outcome the script asked for.

#include <string>

#include "gmock/gmock.h"
#include "tests/unit/store_suite.h"

namespace runyard::server::test_support {
namespace {

TEST_P(StoreSuite, RecordsIngestedStartsAtZeroAndKeepsWhatWasSet) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_2")).ok());
  absl::StatusOr<int64_t> offset = store().RecordsIngested("run_1");
  ASSERT_TRUE(offset.ok()) << offset.status();
  EXPECT_EQ(*offset, 0);

  ASSERT_TRUE(store().SetRecordsIngested("run_1", 4096).ok());
  ASSERT_TRUE(store().SetRecordsIngested("run_1", 8192).ok());
  offset = store().RecordsIngested("run_1");
  ASSERT_TRUE(offset.ok()) << offset.status();
  EXPECT_EQ(*offset, 8192);
  offset = store().RecordsIngested("run_2");
  ASSERT_TRUE(offset.ok()) << offset.status();
  EXPECT_EQ(*offset, 0);
}

TEST_P(StoreSuite, RecordsIngestedSetInARolledBackTransactionIsNotKept) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  absl::Status failed = store().InTransaction([](Store& txn) -> absl::Status {
    if (absl::Status s = txn.SetRecordsIngested("run_1", 100); !s.ok()) return s;
    return absl::InternalError("a record failed");
  });
  EXPECT_FALSE(failed.ok());
  absl::StatusOr<int64_t> offset = store().RecordsIngested("run_1");
  ASSERT_TRUE(offset.ok()) << offset.status();
  EXPECT_EQ(*offset, 0);
}

TEST_P(StoreSuite, RequestedOutcomeIsNothingUntilSetThenKept) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  absl::StatusOr<RequestedOutcome> outcome = store().GetRequestedOutcome("run_1");
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->status, runyard::v1::RUN_STATUS_UNSPECIFIED);

  RequestedOutcome failed;
  failed.status = runyard::v1::FAILED;
  failed.error.set_code("UserError");
  failed.error.set_message("bad data");
  ASSERT_TRUE(store().SetRequestedOutcome("run_1", failed).ok());
  ASSERT_TRUE(store().SetRecordsIngested("run_1", 10).ok());  // one row, two columns
  outcome = store().GetRequestedOutcome("run_1");
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->status, runyard::v1::FAILED);
  EXPECT_EQ(outcome->error.code(), "UserError");
  EXPECT_EQ(outcome->error.message(), "bad data");

  RequestedOutcome canceled;
  canceled.status = runyard::v1::CANCELED;
  ASSERT_TRUE(store().SetRequestedOutcome("run_1", canceled).ok());
  outcome = store().GetRequestedOutcome("run_1");
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->status, runyard::v1::CANCELED);
  EXPECT_EQ(outcome->error.code(), "");
  absl::StatusOr<int64_t> offset = store().RecordsIngested("run_1");
  ASSERT_TRUE(offset.ok()) << offset.status();
  EXPECT_EQ(*offset, 10);
}

TEST_P(StoreSuite, RunApiStateOfAnUnknownRun) {
  // Reads answer as for a run that logged nothing; writes are refused.
  absl::StatusOr<int64_t> offset = store().RecordsIngested("nope");
  ASSERT_TRUE(offset.ok()) << offset.status();
  EXPECT_EQ(*offset, 0);
  absl::StatusOr<RequestedOutcome> outcome = store().GetRequestedOutcome("nope");
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->status, runyard::v1::RUN_STATUS_UNSPECIFIED);
  EXPECT_EQ(store().SetRecordsIngested("nope", 1).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store().SetRequestedOutcome("nope", RequestedOutcome{runyard::v1::FAILED, {}}).code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace runyard::server::test_support
