// The store suite (tests/unit/store_suite.h), InTransaction: what the body writes commits
// together or not at all, the body reads its own writes, others see nothing before the
// commit, and a nested InTransaction joins the outer one.

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "tests/unit/store_suite.h"

namespace runyard::server::test_support {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

bool Exists(Store& store, const std::string& run_id) {
  absl::StatusOr<bool> exists = store.RunExists(run_id);
  EXPECT_TRUE(exists.ok()) << exists.status();
  return exists.ok() && *exists;
}

TEST_P(StoreSuite, TransactionCommitsEveryWrite) {
  absl::Status done = store().InTransaction([&](Store& txn) -> absl::Status {
    if (absl::Status s = txn.InsertRun(QueuedRun("run_1")); !s.ok()) return s;
    if (absl::Status s = txn.AppendStatus("run_1", runyard::v1::RUNNING, 2000); !s.ok()) return s;
    return txn.SetFileSize("run_1", "out.txt", 3, 2000);
  });
  ASSERT_TRUE(done.ok()) << done;

  absl::StatusOr<runyard::v1::Run> run = store().GetRun("run_1");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->status(), runyard::v1::RUNNING);
  EXPECT_EQ(run->history_size(), 2);
  absl::StatusOr<std::vector<runyard::v1::FileInfo>> files = store().ListFiles("run_1");
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(files->size(), 1u);
}

TEST_P(StoreSuite, TransactionErrorIsReturnedAndNothingOfItStays) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("before")).ok());
  absl::Status done = store().InTransaction([&](Store& txn) -> absl::Status {
    if (absl::Status s = txn.InsertRun(QueuedRun("run_1")); !s.ok()) return s;
    if (absl::Status s = txn.AppendStatus("before", runyard::v1::CANCELED, 2000); !s.ok()) {
      return s;
    }
    if (absl::Status s = txn.SetFileSize("run_1", "out.txt", 3, 2000); !s.ok()) return s;
    return absl::AbortedError("changed my mind");
  });
  EXPECT_EQ(done, absl::AbortedError("changed my mind"));

  EXPECT_FALSE(Exists(store(), "run_1"));
  absl::StatusOr<runyard::v1::Run> before = store().GetRun("before");
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->status(), runyard::v1::QUEUED);
  EXPECT_EQ(before->history_size(), 1);
  absl::StatusOr<std::vector<runyard::v1::FileInfo>> files = store().ListFiles("run_1");
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_THAT(*files, IsEmpty());
}

TEST_P(StoreSuite, FailedWriteInTransactionUndoesTheEarlierOnes) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("taken")).ok());
  absl::Status done = store().InTransaction([&](Store& txn) -> absl::Status {
    if (absl::Status s = txn.InsertRun(QueuedRun("run_1")); !s.ok()) return s;
    return txn.InsertRun(QueuedRun("taken"));  // its id is in use
  });
  EXPECT_FALSE(done.ok());
  EXPECT_FALSE(Exists(store(), "run_1"));
  // And the store goes on.
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_2")).ok());
  EXPECT_TRUE(Exists(store(), "run_2"));
}

TEST_P(StoreSuite, TransactionReadsItsOwnWrites) {
  absl::Status done = store().InTransaction([&](Store& txn) -> absl::Status {
    if (absl::Status s = txn.InsertRun(QueuedRun("run_1")); !s.ok()) return s;
    EXPECT_TRUE(Exists(txn, "run_1"));
    absl::StatusOr<std::vector<std::string>> queued = txn.QueuedRuns("cpu", 10);
    EXPECT_TRUE(queued.ok()) << queued.status();
    if (queued.ok()) {
      EXPECT_THAT(*queued, ElementsAre("run_1"));
    }
    absl::StatusOr<runyard::v1::Run> run = txn.GetRun("run_1");
    EXPECT_TRUE(run.ok()) << run.status();
    return absl::OkStatus();
  });
  EXPECT_TRUE(done.ok()) << done;
}

TEST_P(StoreSuite, OthersSeeNothingBeforeTheCommit) {
  absl::StatusOr<std::unique_ptr<Store>> other = OpenAnother();
  ASSERT_TRUE(other.ok()) << other.status();
  absl::Status done = store().InTransaction([&](Store& txn) -> absl::Status {
    if (absl::Status s = txn.InsertRun(QueuedRun("run_1")); !s.ok()) return s;
    EXPECT_FALSE(Exists(**other, "run_1"));
    return absl::OkStatus();
  });
  ASSERT_TRUE(done.ok()) << done;
  EXPECT_TRUE(Exists(**other, "run_1"));
}

TEST_P(StoreSuite, NestedTransactionCommitsWithTheOuter) {
  absl::Status done = store().InTransaction([&](Store& txn) -> absl::Status {
    if (absl::Status s = txn.InsertRun(QueuedRun("outer")); !s.ok()) return s;
    return txn.InTransaction([&](Store& inner) -> absl::Status {
      EXPECT_TRUE(Exists(inner, "outer"));  // the same transaction
      return inner.InsertRun(QueuedRun("inner"));
    });
  });
  ASSERT_TRUE(done.ok()) << done;
  EXPECT_TRUE(Exists(store(), "outer"));
  EXPECT_TRUE(Exists(store(), "inner"));
}

TEST_P(StoreSuite, NestedErrorReturnedByTheOuterUndoesBoth) {
  absl::Status done = store().InTransaction([&](Store& txn) -> absl::Status {
    if (absl::Status s = txn.InsertRun(QueuedRun("outer")); !s.ok()) return s;
    return txn.InTransaction([&](Store& inner) -> absl::Status {
      if (absl::Status s = inner.InsertRun(QueuedRun("inner")); !s.ok()) return s;
      return absl::FailedPreconditionError("inner says no");
    });
  });
  EXPECT_EQ(done, absl::FailedPreconditionError("inner says no"));
  EXPECT_FALSE(Exists(store(), "outer"));
  EXPECT_FALSE(Exists(store(), "inner"));
}

}  // namespace
}  // namespace runyard::server::test_support
