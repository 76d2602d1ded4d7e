// Tests for server/sqlite_transaction.h: a COMMIT that fails is returned, not dropped, and
// leaves the connection out of the transaction, ready for the next one.

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/sqlite.h"
#include "server/sqlite_transaction.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::server {
namespace {

using ::testing::HasSubstr;

class SqliteTransactionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Database>> db =
        Database::Open((tmp_.path() / "test.db").string());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    // A deferred foreign key is checked at COMMIT: a way to make COMMIT itself fail.
    ASSERT_TRUE(db_->Exec("PRAGMA foreign_keys=ON;"
                          "CREATE TABLE parent(id INTEGER PRIMARY KEY);"
                          "CREATE TABLE child(parent_id INTEGER REFERENCES parent(id) "
                          "DEFERRABLE INITIALLY DEFERRED);")
                    .ok());
  }

  int64_t Children() {
    Statement count = db_->Prepare("SELECT COUNT(*) FROM child");
    EXPECT_TRUE(count.Step()) << count.status();
    return count.Int(0);
  }

  testutil::ScopedTempDir tmp_;
  std::unique_ptr<Database> db_;
};

TEST_F(SqliteTransactionTest, CommitsWhatTheBodyWrote) {
  absl::Status done = InWriteTransaction(*db_, [&] {
    return db_->Exec("INSERT INTO parent VALUES(1); INSERT INTO child VALUES(1);");
  });
  EXPECT_TRUE(done.ok()) << done;
  EXPECT_FALSE(db_->InTransaction());
  EXPECT_EQ(Children(), 1);
}

TEST_F(SqliteTransactionTest, FailedCommitIsReturnedAndRolledBack) {
  absl::Status done =
      InWriteTransaction(*db_, [&] { return db_->Exec("INSERT INTO child VALUES(7)"); });
  EXPECT_EQ(done.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(done.message(), HasSubstr("FOREIGN KEY"));
  EXPECT_FALSE(db_->InTransaction());
  EXPECT_EQ(Children(), 0);

  // The connection takes the next transaction.
  EXPECT_TRUE(InWriteTransaction(*db_, [&] {
                return db_->Exec("INSERT INTO parent VALUES(7); INSERT INTO child VALUES(7);");
              }).ok());
  EXPECT_EQ(Children(), 1);
}

TEST_F(SqliteTransactionTest, BodyErrorIsReturnedAsItIs) {
  absl::Status done = InWriteTransaction(*db_, [&]() -> absl::Status {
    if (absl::Status s = db_->Exec("INSERT INTO parent VALUES(1)"); !s.ok()) return s;
    return absl::AbortedError("no");
  });
  EXPECT_EQ(done, absl::AbortedError("no"));
  EXPECT_FALSE(db_->InTransaction());
  Statement count = db_->Prepare("SELECT COUNT(*) FROM parent");
  ASSERT_TRUE(count.Step());
  EXPECT_EQ(count.Int(0), 0);
}

}  // namespace
}  // namespace runyard::server
