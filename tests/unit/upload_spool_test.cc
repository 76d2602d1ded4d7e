// Tests for runtime/upload_spool.h and the spooling ReportingObserver: everything is written
// to disk first, sent in order, resumed after an outage or a new process, and never twice
// in a way the control plane would keep.

#include "runtime/upload_spool.h"

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/reporting_observer.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::runtime {
namespace {

namespace fs = std::filesystem;
using ::runyard::testutil::ScopedTempDir;

SpoolRecord Bytes(const std::string& path, int64_t offset, const std::string& data, bool truncate = false) {
  SpoolRecord record;
  record.kind = SpoolRecord::Kind::kFileBytes;
  record.path = path;
  record.offset = offset;
  record.payload = data;
  record.truncate = truncate;
  return record;
}

TEST(UploadSpoolTest, RecordsReadBackInOrder) {
  ScopedTempDir tmp;
  auto spool = UploadSpool::Open(tmp.path() / "spool").value();
  ASSERT_TRUE(spool->Append(Bytes("user_logs/std_log.txt", 0, "hello ")).ok());
  ASSERT_TRUE(spool->Append(Bytes("outputs/a", 0, "", true)).ok());
  auto first = spool->ReadAt(0);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->first.path, "user_logs/std_log.txt");
  EXPECT_EQ(first->first.payload, "hello ");
  auto second = spool->ReadAt(first->second);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->first.path, "outputs/a");
  EXPECT_TRUE(second->first.truncate);
  EXPECT_EQ(second->second, spool->end());
  EXPECT_FALSE(spool->ReadAt(second->second).has_value());
}

TEST(UploadSpoolTest, FileRangeRecordHoldsOnlyWhereTheBytesAre) {
  ScopedTempDir tmp;
  auto spool = UploadSpool::Open(tmp.path() / "spool").value();
  SpoolRecord range;
  range.kind = SpoolRecord::Kind::kFileRange;
  range.path = "user_logs/std_log.txt";
  range.offset = 5 << 20;
  range.source = tmp.path() / "runs" / "run-1" / "user_logs" / "std_log.txt";
  range.length = 1 << 20;
  ASSERT_TRUE(spool->Append(range).ok());
  // A MiB of output costs the spool a record of a hundred bytes or so, not a MiB.
  EXPECT_LT(fs::file_size(tmp.path() / "spool"), 200u);
  auto back = UploadSpool::Open(tmp.path() / "spool").value()->ReadAt(0);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->first.kind, SpoolRecord::Kind::kFileRange);
  EXPECT_EQ(back->first.path, "user_logs/std_log.txt");
  EXPECT_EQ(back->first.offset, 5 << 20);
  EXPECT_EQ(back->first.source, range.source);
  EXPECT_EQ(back->first.length, 1 << 20);
  EXPECT_TRUE(back->first.payload.empty());
}

TEST(UploadSpoolTest, ReopenedSpoolKeepsRecordsAndWhatWasSent) {
  ScopedTempDir tmp;
  int64_t after_first = 0;
  {
    auto spool = UploadSpool::Open(tmp.path() / "spool").value();
    ASSERT_TRUE(spool->Append(Bytes("a", 0, "one")).ok());
    after_first = spool->end();
    ASSERT_TRUE(spool->Append(Bytes("a", 3, "two")).ok());
    spool->MarkSent(after_first);
  }
  auto spool = UploadSpool::Open(tmp.path() / "spool").value();
  EXPECT_EQ(spool->sent(), after_first);
  auto next = spool->ReadAt(spool->sent());
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->first.payload, "two");
}

TEST(UploadSpoolTest, RecordCutShortByACrashIsIgnoredAndWrittenOver) {
  ScopedTempDir tmp;
  const fs::path file = tmp.path() / "spool";
  int64_t complete = 0;
  {
    auto spool = UploadSpool::Open(file).value();
    ASSERT_TRUE(spool->Append(Bytes("a", 0, "whole")).ok());
    complete = spool->end();
    ASSERT_TRUE(spool->Append(Bytes("a", 5, std::string(1000, 'x'))).ok());
  }
  fs::resize_file(file, complete + 30);  // the second record cut in the middle
  auto spool = UploadSpool::Open(file).value();
  EXPECT_EQ(spool->end(), complete);
  ASSERT_TRUE(spool->Append(Bytes("a", 5, "again")).ok());
  auto second = spool->ReadAt(complete);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->first.payload, "again");
}

TEST(UploadSpoolTest, TemporarySpoolWorksWithoutAFile) {
  auto spool = UploadSpool::Open({}).value();
  ASSERT_TRUE(spool->Append(Bytes("a", 0, "x")).ok());
  EXPECT_TRUE(spool->ReadAt(0).has_value());
}

// A control plane in memory with the server's append rules: bytes at an offset, what it
// has is skipped, a gap is OUT_OF_RANGE. `down` makes every call UNAVAILABLE.
class FakeControlPlane : public RunReporter {
 public:
  absl::StatusOr<runyard::v1::UpdateStatusResponse> UpdateStatus(
      const runyard::v1::UpdateStatusRequest& request) override {
    std::lock_guard lock(mutex_);
    ++calls_;
    changed_.notify_all();
    if (down_) return absl::UnavailableError("down");
    statuses_.push_back(request.status());
    status_seen_after_bytes_.push_back(total_bytes_);
    changed_.notify_all();
    return runyard::v1::UpdateStatusResponse{};
  }
  absl::StatusOr<runyard::v1::AppendResponse> Append(const runyard::v1::AppendRequest& request) override {
    std::lock_guard lock(mutex_);
    ++calls_;
    changed_.notify_all();
    if (down_) return absl::UnavailableError("down");
    std::string& file = files_[request.path()];
    if (request.truncate()) file.clear();
    if (request.offset() > static_cast<int64_t>(file.size())) return absl::OutOfRangeError("gap");
    const size_t skip = file.size() - static_cast<size_t>(request.offset());
    if (skip < request.data().size()) {
      file.append(request.data().substr(skip));
      total_bytes_ += request.data().size() - skip;
    }
    runyard::v1::AppendResponse response;
    response.set_committed_size(static_cast<int64_t>(file.size()));
    changed_.notify_all();
    return response;
  }

  void SetDown(bool down) {
    std::lock_guard lock(mutex_);
    down_ = down;
  }
  // Waits until a call was refused while down, so the test knows the sender is retrying.
  void WaitForCalls(int at_least) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, std::chrono::seconds(10), [&] { return calls_ >= at_least; });
  }
  std::string File(const std::string& path) {
    std::lock_guard lock(mutex_);
    return files_[path];
  }
  std::vector<runyard::v1::RunStatus> statuses() {
    std::lock_guard lock(mutex_);
    return statuses_;
  }
  std::vector<size_t> status_seen_after_bytes() {
    std::lock_guard lock(mutex_);
    return status_seen_after_bytes_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool down_ = false;
  int calls_ = 0;
  size_t total_bytes_ = 0;
  std::map<std::string, std::string> files_;
  std::vector<runyard::v1::RunStatus> statuses_;
  std::vector<size_t> status_seen_after_bytes_;
};

runyard::v1::Lease TestLease() {
  runyard::v1::Lease lease;
  lease.set_run_id("run-1");
  lease.set_lease_id("l1");
  lease.set_fencing_token(1);
  return lease;
}

RunOutcome Completed() {
  RunOutcome outcome;
  outcome.status = runyard::v1::COMPLETED;
  return outcome;
}

TEST(SpoolingObserverTest, BytesAndStatusesArriveInOrder) {
  FakeControlPlane server;
  CancelToken cancel;
  ReportingObserver observer(&server, TestLease(), &cancel);
  observer.OnStatus(runyard::v1::RUNNING);
  std::string written;
  for (int i = 0; i < 1000; ++i) {
    const std::string line = "line " + std::to_string(i) + "\n";
    observer.OnFileBytes("user_logs/std_log.txt", static_cast<int64_t>(written.size()), line, false);
    written += line;
  }
  observer.OnFinished(Completed());
  EXPECT_EQ(server.File("user_logs/std_log.txt"), written);
  EXPECT_EQ(server.statuses(), (std::vector<runyard::v1::RunStatus>{runyard::v1::RUNNING, runyard::v1::COMPLETED}));
  // The terminal status went out after every byte.
  EXPECT_EQ(server.status_seen_after_bytes().back(), written.size());
}

TEST(SpoolingObserverTest, WritingNeverWaitsForADownServerAndEverythingArrivesAfterIt) {
  ScopedTempDir tmp;
  FakeControlPlane server;
  server.SetDown(true);
  CancelToken cancel;
  ReportingObserver observer(&server, TestLease(), &cancel, tmp.path() / "spool" / "run-1");
  std::string written;
  const std::string chunk(64 << 10, 'z');
  // 32 MiB while nothing can be sent: each call returns at once (spooled on disk).
  const auto began = std::chrono::steady_clock::now();
  for (int i = 0; i < 512; ++i) {
    observer.OnFileBytes("user_logs/std_log.txt", static_cast<int64_t>(written.size()), chunk, false);
    written += chunk;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - began, std::chrono::seconds(20));
  server.WaitForCalls(2);
  EXPECT_EQ(server.File("user_logs/std_log.txt"), "");
  server.SetDown(false);
  observer.OnFinished(Completed());
  EXPECT_EQ(server.File("user_logs/std_log.txt"), written);
  // Everything was sent: the spool is gone.
  EXPECT_FALSE(fs::exists(tmp.path() / "spool" / "run-1"));
  EXPECT_FALSE(fs::exists(tmp.path() / "spool" / "run-1.lease"));
}

TEST(SpoolingObserverTest, ANewProcessFinishesWhatTheSpoolHolds) {
  ScopedTempDir tmp;
  const fs::path spool = tmp.path() / "spool" / "run-1";
  FakeControlPlane server;
  CancelToken cancel;
  std::string written;
  server.SetDown(true);
  {
    ReportingObserver first(&server, TestLease(), &cancel, spool);
    for (int i = 0; i < 100; ++i) {
      const std::string line = "before the crash " + std::to_string(i) + "\n";
      first.OnFileBytes("outputs/metrics.csv", static_cast<int64_t>(written.size()), line, false);
      written += line;
    }
    server.WaitForCalls(1);
    // Destroyed with the server down, the way a dying agent leaves it: the spool stays.
  }
  ASSERT_TRUE(fs::exists(spool));
  ASSERT_TRUE(fs::exists(spool.string() + ".lease"));
  server.SetDown(false);
  ReportingObserver second(&server, TestLease(), &cancel, spool);
  EXPECT_TRUE(second.Drain());
  EXPECT_EQ(server.File("outputs/metrics.csv"), written);
}

// Writes `bytes` to `file` (appending) the way a script's output lands in std_log.txt.
void AppendToFile(const fs::path& file, const std::string& bytes) {
  std::ofstream(file, std::ios::binary | std::ios::app) << bytes;
}

TEST(SpoolingObserverTest, FileRangesAreReadFromTheFileWhenSent) {
  ScopedTempDir tmp;
  const fs::path log = tmp.path() / "std_log.txt";
  FakeControlPlane server;
  server.SetDown(true);  // nothing is read until it is sent
  CancelToken cancel;
  ReportingObserver observer(&server, TestLease(), &cancel, tmp.path() / "spool" / "run-1");
  std::string written;
  for (int i = 0; i < 40; ++i) {  // 40 pieces of 100,000 bytes: several merged appends
    const std::string piece(100000, static_cast<char>('a' + i % 26));
    AppendToFile(log, piece);
    observer.OnFileRange("user_logs/std_log.txt", log, static_cast<int64_t>(written.size()),
                         static_cast<int64_t>(piece.size()));
    written += piece;
  }
  observer.OnFileBytes("outputs/a.txt", 0, "between", false);
  AppendToFile(log, "tail\n");
  observer.OnFileRange("user_logs/std_log.txt", log, static_cast<int64_t>(written.size()), 5);
  written += "tail\n";
  // The spool holds records, not the 4 MB.
  EXPECT_LT(fs::file_size(tmp.path() / "spool" / "run-1"), 10000u);
  server.SetDown(false);
  observer.OnFinished(Completed());
  EXPECT_EQ(server.File("user_logs/std_log.txt"), written);
  EXPECT_EQ(server.File("outputs/a.txt"), "between");
}

TEST(SpoolingObserverTest, ARangeTheFileNoLongerHoldsArrivesAsNulBytesAndLaterBytesLandInPlace) {
  ScopedTempDir tmp;
  const fs::path log = tmp.path() / "std_log.txt";
  AppendToFile(log, "0123456789");
  FakeControlPlane server;
  CancelToken cancel;
  ReportingObserver observer(&server, TestLease(), &cancel);
  observer.OnFileRange("user_logs/std_log.txt", log, 0, 10);
  observer.OnFileRange("user_logs/std_log.txt", log, 10, 4);  // never written
  observer.OnFileBytes("user_logs/std_log.txt", 14, "end", false);
  observer.OnFinished(Completed());
  EXPECT_EQ(server.File("user_logs/std_log.txt"), std::string("0123456789") + std::string(4, '\0') + "end");
}

TEST(SpoolingObserverTest, ANewProcessSendsTheRangesADeadOneSpooled) {
  ScopedTempDir tmp;
  const fs::path spool = tmp.path() / "spool" / "run-1";
  const fs::path log = tmp.path() / "std_log.txt";
  FakeControlPlane server;
  CancelToken cancel;
  server.SetDown(true);
  std::string written;
  {
    ReportingObserver first(&server, TestLease(), &cancel, spool);
    for (int i = 0; i < 50; ++i) {
      const std::string line = "printed before the crash " + std::to_string(i) + "\n";
      AppendToFile(log, line);
      first.OnFileRange("user_logs/std_log.txt", log, static_cast<int64_t>(written.size()),
                        static_cast<int64_t>(line.size()));
      written += line;
    }
    server.WaitForCalls(1);
  }
  server.SetDown(false);
  ReportingObserver second(&server, TestLease(), &cancel, spool);
  EXPECT_TRUE(second.Drain());
  EXPECT_EQ(server.File("user_logs/std_log.txt"), written);
}

TEST(SpoolingObserverTest, RangesAreHandedOnAsBytesWhenTheObserverPrintsThem) {
  ScopedTempDir tmp;
  const fs::path log = tmp.path() / "std_log.txt";
  AppendToFile(log, "printed line\n");
  FakeControlPlane server;
  CancelToken cancel;
  ReportingObserver observer(&server, TestLease(), &cancel);
  std::string printed;
  observer.on_std_log = [&](std::string_view bytes) { printed.append(bytes); };
  observer.OnFileRange("user_logs/std_log.txt", log, 0, 13);
  observer.OnFinished(Completed());
  EXPECT_EQ(printed, "printed line\n");
  EXPECT_EQ(server.File("user_logs/std_log.txt"), "printed line\n");
}

TEST(SpoolingObserverTest, RewrittenFileStartsOver) {
  FakeControlPlane server;
  CancelToken cancel;
  ReportingObserver observer(&server, TestLease(), &cancel);
  observer.OnFileBytes("outputs/model.txt", 0, "first version, long", false);
  observer.OnFileBytes("outputs/model.txt", 0, "second", true);
  observer.OnFinished(Completed());
  EXPECT_EQ(server.File("outputs/model.txt"), "second");
}

TEST(SpoolingObserverTest, RefusedLeaseCancelsTheRun) {
  class Refusing : public FakeControlPlane {
    absl::StatusOr<runyard::v1::AppendResponse> Append(const runyard::v1::AppendRequest&) override {
      return absl::FailedPreconditionError("lease is no longer current");
    }
  } server;
  CancelToken cancel;
  ReportingObserver observer(&server, TestLease(), &cancel);
  observer.OnFileBytes("user_logs/std_log.txt", 0, "x", false);
  EXPECT_FALSE(observer.Drain());
  EXPECT_TRUE(cancel.requested());
}

// Takes Report calls as the server does (each item as its own call would be), counts
// those that applied something, and can refuse the rest of one report after some items.
class ReportCountingControlPlane : public FakeControlPlane {
 public:
  absl::StatusOr<runyard::v1::ReportResponse> Report(const runyard::v1::ReportRequest& request) override {
    int cut_after = -1;
    {
      std::lock_guard lock(report_mutex_);
      std::swap(cut_after, cut_next_after_);
    }
    runyard::v1::ReportRequest taken;
    for (int i = 0; i < request.items_size() && (cut_after < 0 || i < cut_after); ++i) *taken.add_items() = request.items(i);
    absl::StatusOr<runyard::v1::ReportResponse> response = RunReporter::Report(taken);
    if (response.ok() && cut_after >= 0 && cut_after < request.items_size()) {
      response->set_error_code(static_cast<int>(absl::StatusCode::kUnavailable));
      response->set_error_message("connection reset mid-report");
    }
    std::lock_guard lock(report_mutex_);
    if (response.ok() && response->applied() > 0) {
      ++reports_applied_;
      largest_report_ = std::max(largest_report_, response->applied());
    }
    return response;
  }
  // The next report is refused (transiently) after its first `items` items.
  void CutNextReportAfter(int items) {
    std::lock_guard lock(report_mutex_);
    cut_next_after_ = items;
  }
  int reports_applied() {
    std::lock_guard lock(report_mutex_);
    return reports_applied_;
  }
  int largest_report() {
    std::lock_guard lock(report_mutex_);
    return largest_report_;
  }

 private:
  std::mutex report_mutex_;
  int cut_next_after_ = -1;
  int reports_applied_ = 0;
  int largest_report_ = 0;
};

// Lines of two files, interleaved (so no two neighbouring records merge into one append),
// between RUNNING and COMPLETED: 2 + 2 * lines records.
void SpoolInterleaved(ReportingObserver& observer, int lines, std::string& a, std::string& b) {
  observer.OnStatus(runyard::v1::RUNNING);
  for (int i = 0; i < lines; ++i) {
    const std::string line = "line " + std::to_string(i) + "\n";
    observer.OnFileBytes("logs/a.txt", static_cast<int64_t>(a.size()), line, false);
    a += line;
    observer.OnFileBytes("logs/b.txt", static_cast<int64_t>(b.size()), line, false);
    b += line;
  }
}

TEST(SpoolingObserverTest, WhatWaitsInTheSpoolGoesInFewReports) {
  ReportCountingControlPlane server;
  server.SetDown(true);  // everything waits in the spool first
  CancelToken cancel;
  ReportingObserver observer(&server, TestLease(), &cancel);
  std::string a, b;
  SpoolInterleaved(observer, 20, a, b);
  server.WaitForCalls(1);
  server.SetDown(false);
  observer.OnFinished(Completed());
  EXPECT_EQ(server.File("logs/a.txt"), a);
  EXPECT_EQ(server.File("logs/b.txt"), b);
  EXPECT_EQ(server.statuses(), (std::vector<runyard::v1::RunStatus>{runyard::v1::RUNNING, runyard::v1::COMPLETED}));
  // 42 records: one report took the 41 that waited (the last may follow on its own).
  EXPECT_LE(server.reports_applied(), 2);
  EXPECT_GE(server.largest_report(), 41);
}

TEST(SpoolingObserverTest, AReportCutShortResumesAfterWhatWasTakenWithNoDuplicate) {
  ReportCountingControlPlane server;
  server.SetDown(true);
  CancelToken cancel;
  ReportingObserver observer(&server, TestLease(), &cancel);
  std::string a, b;
  SpoolInterleaved(observer, 20, a, b);
  server.WaitForCalls(1);
  server.CutNextReportAfter(7);  // RUNNING and 6 lines taken, then the connection "drops"
  server.SetDown(false);
  observer.OnFinished(Completed());
  EXPECT_EQ(server.File("logs/a.txt"), a);
  EXPECT_EQ(server.File("logs/b.txt"), b);
  EXPECT_EQ(server.statuses(), (std::vector<runyard::v1::RunStatus>{runyard::v1::RUNNING, runyard::v1::COMPLETED}));
  EXPECT_GE(server.reports_applied(), 2);
}

}  // namespace
}  // namespace runyard::runtime
