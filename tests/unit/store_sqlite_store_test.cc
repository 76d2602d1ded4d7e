// Tests for server/sqlite_store.h beyond the store suite: what a transaction's body may do
// with the store it was started on.

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "server/sqlite_store.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::server {
namespace {

runyard::v1::Run QueuedRun(const std::string& run_id) {
  runyard::v1::Run run;
  run.set_run_id(run_id);
  run.set_experiment("exp");
  run.set_target("cpu");
  run.set_status(runyard::v1::QUEUED);
  return run;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<SqliteStore>> store =
        SqliteStore::Open((tmp_.path() / "runyard.db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  testutil::ScopedTempDir tmp_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteStoreTest, WriteOnTheStoreInsideItsTransactionFailsInsteadOfWaiting) {
  absl::Status inner;
  absl::Status done = store_->InTransaction([&](Store& txn) -> absl::Status {
    inner = store_->InsertRun(QueuedRun("run_1"));
    return absl::OkStatus();
  });
  EXPECT_TRUE(done.ok()) << done;
  EXPECT_EQ(inner.code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<bool> exists = store_->RunExists("run_1");
  ASSERT_TRUE(exists.ok()) << exists.status();
  EXPECT_FALSE(*exists);
  // The store writes again once the transaction is over.
  EXPECT_TRUE(store_->InsertRun(QueuedRun("run_1")).ok());
}

TEST_F(SqliteStoreTest, ReadOnTheStoreInsideATransactionSeesWhatWasCommitted) {
  ASSERT_TRUE(store_->InsertRun(QueuedRun("before")).ok());
  absl::Status done = store_->InTransaction([&](Store& txn) -> absl::Status {
    if (absl::Status s = txn.InsertRun(QueuedRun("inside")); !s.ok()) return s;
    absl::StatusOr<bool> before = store_->RunExists("before");
    absl::StatusOr<bool> inside = store_->RunExists("inside");
    EXPECT_TRUE(before.ok() && *before);
    EXPECT_TRUE(inside.ok() && !*inside);
    return absl::OkStatus();
  });
  EXPECT_TRUE(done.ok()) << done;
}

}  // namespace
}  // namespace runyard::server
