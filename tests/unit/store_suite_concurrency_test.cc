// The store suite (tests/unit/store_suite.h), concurrency: threads writing while others read
// lose no write and see no error, read-modify-write transactions lose no update, and two
// handles on one store (two processes) see each other's writes.

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "tests/unit/store_suite.h"

namespace runyard::server::test_support {
namespace {

using ::testing::IsEmpty;

// Errors seen by worker threads, checked once they are joined.
class Errors {
 public:
  void Add(const std::string& what, const absl::Status& status) {
    std::lock_guard lock(mutex_);
    errors_.push_back(what + ": " + status.ToString());
  }
  std::vector<std::string> Take() {
    std::lock_guard lock(mutex_);
    return std::move(errors_);
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> errors_;
};

// The run's fencing token, incremented as a read then a write in one transaction.
absl::Status IncrementToken(Store& store, const std::string& run_id) {
  return store.InTransaction([&](Store& txn) -> absl::Status {
    absl::StatusOr<LeaseRecord> lease = txn.GetLease(run_id);
    if (!lease.ok()) return lease.status();
    ++lease->fencing_token;
    return txn.SetLease(*lease);
  });
}

int64_t Token(Store& store, const std::string& run_id) {
  absl::StatusOr<LeaseRecord> lease = store.GetLease(run_id);
  EXPECT_TRUE(lease.ok()) << lease.status();
  return lease.ok() ? lease->fencing_token : -1;
}

TEST_P(StoreSuite, WritersAndReadersAtOnceLoseNothing) {
  constexpr int kWriters = 2;
  constexpr int kRunsPerWriter = 100;
  constexpr int kReaders = 4;
  constexpr int kMinReadsEach = 20;
  Errors errors;
  std::atomic<int> writers_left = kWriters;
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kRunsPerWriter; ++i) {
        const std::string run_id = "w" + std::to_string(w) + "_" + std::to_string(i);
        const int64_t t = 1000 + i;
        if (absl::Status s = store().InsertRun(QueuedRun(run_id, "cpu", t)); !s.ok()) {
          errors.Add("insert " + run_id, s);
        }
        for (auto status : {runyard::v1::PREPARING, runyard::v1::RUNNING}) {
          if (absl::Status s = store().AppendStatus(run_id, status, t + 1); !s.ok()) {
            errors.Add("append " + run_id, s);
          }
        }
      }
      --writers_left;
    });
  }
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&] {
      for (int reads = 0; writers_left > 0 || reads < kMinReadsEach; ++reads) {
        absl::StatusOr<std::vector<runyard::v1::Run>> runs = store().ListRuns("", 20);
        if (!runs.ok()) {
          errors.Add("list", runs.status());
          continue;
        }
        for (const auto& run : *runs) {
          // A status and its history entry are written together: read together too.
          if (run.history_size() == 0 || run.history().rbegin()->status() != run.status()) {
            errors.Add("torn read of " + run.run_id(),
                       absl::DataLossError(absl::StrCat("status ", run.status(), ", history of ",
                                                        run.history_size())));
          }
        }
        if (!runs->empty()) {
          absl::StatusOr<runyard::v1::Run> one = store().GetRun(runs->front().run_id());
          if (!one.ok()) errors.Add("get", one.status());
        }
        if (absl::StatusOr<std::vector<RunCount>> counts = store().CountRuns(); !counts.ok()) {
          errors.Add("count", counts.status());
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_THAT(errors.Take(), IsEmpty());

  absl::StatusOr<std::vector<RunCount>> counts = store().CountRuns();
  ASSERT_TRUE(counts.ok()) << counts.status();
  ASSERT_EQ(counts->size(), 1u);
  EXPECT_EQ(counts->front().status, runyard::v1::RUNNING);
  EXPECT_EQ(counts->front().count, kWriters * kRunsPerWriter);
  absl::StatusOr<std::vector<runyard::v1::Run>> all = store().ListRuns("", 1000);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), static_cast<size_t>(kWriters * kRunsPerWriter));
  for (const auto& run : *all) EXPECT_EQ(run.history_size(), 3) << run.run_id();
}

TEST_P(StoreSuite, ConcurrentTransactionsLoseNoUpdate) {
  constexpr int kThreads = 4;
  constexpr int kIncrementsEach = 50;
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  Errors errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrementsEach; ++i) {
        if (absl::Status s = IncrementToken(store(), "run_1"); !s.ok()) errors.Add("increment", s);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_THAT(errors.Take(), IsEmpty());
  EXPECT_EQ(Token(store(), "run_1"), kThreads * kIncrementsEach);
}

TEST_P(StoreSuite, TwoHandlesSeeEachOthersWrites) {
  absl::StatusOr<std::unique_ptr<Store>> opened = OpenAnother();
  ASSERT_TRUE(opened.ok()) << opened.status();
  Store& other = **opened;

  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  absl::StatusOr<runyard::v1::Run> seen = other.GetRun("run_1");
  ASSERT_TRUE(seen.ok()) << seen.status();

  ASSERT_TRUE(other.AppendStatus("run_1", runyard::v1::RUNNING, 2000).ok());
  absl::StatusOr<runyard::v1::Run> back = store().GetRun("run_1");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->status(), runyard::v1::RUNNING);
  EXPECT_EQ(back->history_size(), 2);

  AgentRecord agent;
  agent.agent_id = "agent-1";
  agent.name = "a";
  agent.pool = "cpu";
  ASSERT_TRUE(other.UpsertAgent(agent).ok());
  absl::StatusOr<std::string> pool = store().AgentPool("agent-1");
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_EQ(*pool, "cpu");

  ASSERT_TRUE(store().SetFileSize("run_1", "out.txt", 9, 3000).ok());
  absl::StatusOr<std::vector<runyard::v1::FileInfo>> files = other.ListFiles("run_1");
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 1u);
  EXPECT_EQ(files->front().size(), 9);
}

TEST_P(StoreSuite, TwoHandlesTransactionsLoseNoUpdate) {
  constexpr int kIncrementsEach = 25;
  absl::StatusOr<std::unique_ptr<Store>> opened = OpenAnother();
  ASSERT_TRUE(opened.ok()) << opened.status();
  Store& other = **opened;
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  Errors errors;
  std::vector<std::thread> threads;
  for (Store* handle : {&store(), &other}) {
    threads.emplace_back([&, handle] {
      for (int i = 0; i < kIncrementsEach; ++i) {
        if (absl::Status s = IncrementToken(*handle, "run_1"); !s.ok()) {
          errors.Add("increment", s);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_THAT(errors.Take(), IsEmpty());
  EXPECT_EQ(Token(other, "run_1"), 2 * kIncrementsEach);
}

}  // namespace
}  // namespace runyard::server::test_support
