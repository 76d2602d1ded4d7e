// Tests for runtime/records_follower.h: records.jsonl followed into run history while a
// writer appends to it, and `committed` moved on by the observer's acknowledgements.

#include "runtime/records_follower.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/run_api_channel.h"
#include "runtime/runner.h"
#include "tests/fakes/deferred_ack_observer.h"
#include "tests/fakes/recording_observer.h"
#include "tests/unit/scoped_temp_dir.h"
#include "tests/unit/wait_for.h"

namespace runyard::runtime {
namespace {

namespace fs = std::filesystem;
using ::runyard::fakes::DeferredAckObserver;
using ::runyard::fakes::RecordingObserver;
using ::runyard::testutil::PollUntil;
using ::runyard::testutil::ScopedTempDir;

constexpr char kHistory[] = "system_logs/run_records.jsonl";

std::string Slurp(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The SDK's way of writing: one write() of whole lines on an O_APPEND descriptor.
class FakeSdkWriter {
 public:
  explicit FakeSdkWriter(const fs::path& records)
      : fd_(::open(records.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC)) {}
  ~FakeSdkWriter() { ::close(fd_); }
  void Write(const std::string& lines) {
    ASSERT_EQ(::write(fd_, lines.data(), lines.size()), static_cast<ssize_t>(lines.size()));
    written_ += lines;
  }
  const std::string& written() const { return written_; }

 private:
  int fd_;
  std::string written_;
};

class RecordsFollowerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(records(), std::ios::binary);
    std::ofstream(committed(), std::ios::binary) << CommittedText(0);
  }
  fs::path records() const { return tmp_.path() / "records.jsonl"; }
  fs::path committed() const { return tmp_.path() / "committed"; }

  std::unique_ptr<RecordsFollower> Follow(RunObserver& observer) {
    absl::StatusOr<std::unique_ptr<RecordsFollower>> follower =
        RecordsFollower::Start(records(), committed(), kHistory, &observer);
    EXPECT_TRUE(follower.ok()) << follower.status();
    return std::move(*follower);
  }

  ScopedTempDir tmp_;
};

TEST_F(RecordsFollowerTest, ReportsEachWriteWhileTheWriterRuns) {
  RecordingObserver observer;
  std::unique_ptr<RecordsFollower> follower = Follow(observer);
  FakeSdkWriter writer(records());
  for (int i = 0; i < 5; ++i) {
    writer.Write("{\"k\":\"metric\",\"n\":\"loss\",\"type\":\"scalar\",\"v\":[" +
                 std::to_string(i) + "]}\n");
    // No Finish(): the follower saw the write by itself.
    ASSERT_TRUE(PollUntil([&] { return observer.file(kHistory) == writer.written(); },
                          std::chrono::seconds(10)))
        << observer.file(kHistory);
  }
  // The default observer acknowledges at once: committed follows.
  EXPECT_EQ(Slurp(committed()), CommittedText(static_cast<int64_t>(writer.written().size())));
  follower->Finish();
  EXPECT_TRUE(observer.bad_offsets().empty());
}

TEST_F(RecordsFollowerTest, AWriteReachesTheObserverWithinMilliseconds) {
  DeferredAckObserver observer;
  std::unique_ptr<RecordsFollower> follower = Follow(observer);
  FakeSdkWriter writer(records());
  std::vector<std::chrono::microseconds> latencies;
  for (int i = 0; i < 21; ++i) {
    const size_t before = observer.ranges().size();
    const auto written_at = std::chrono::steady_clock::now();
    writer.Write("{\"k\":\"tag\",\"tags\":{\"a\":\"" + std::to_string(i) + "\"}}\n");
    ASSERT_TRUE(
        PollUntil([&] { return observer.ranges().size() > before; }, std::chrono::seconds(10)));
    latencies.push_back(std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - written_at));
  }
  std::sort(latencies.begin(), latencies.end());
  // Woken by inotify, not a debounce: the median is far under the 100 ms a debounced scan
  // would take (typically ~1 ms plus PollUntil's 5 ms steps; the bound leaves room for a
  // loaded machine, and the median for a stray slow wake-up).
  EXPECT_LT(latencies[latencies.size() / 2], std::chrono::milliseconds(30))
      << "median " << latencies[latencies.size() / 2].count() << " us, worst "
      << latencies.back().count() << " us";
}

TEST_F(RecordsFollowerTest, FinishReportsWhatWasWrittenJustBefore) {
  RecordingObserver observer;
  std::unique_ptr<RecordsFollower> follower = Follow(observer);
  FakeSdkWriter writer(records());
  for (int i = 0; i < 100; ++i) writer.Write("{\"k\":\"metric\",\"n\":\"x\",\"v\":[1]}\n");
  follower->Finish();  // at once: the writer is gone
  EXPECT_EQ(observer.file(kHistory), writer.written());
  EXPECT_EQ(follower->reported(), static_cast<int64_t>(writer.written().size()));
  EXPECT_TRUE(observer.bad_offsets().empty());
}

TEST_F(RecordsFollowerTest, CommittedMovesOnlyWhenAcknowledgedAndNeverBack) {
  DeferredAckObserver observer;
  std::unique_ptr<RecordsFollower> follower = Follow(observer);
  FakeSdkWriter writer(records());
  writer.Write("{\"k\":\"tag\",\"tags\":{\"a\":\"1\"}}\n");
  ASSERT_TRUE(PollUntil([&] { return observer.pending() == 1; }, std::chrono::seconds(10)));
  writer.Write("{\"k\":\"tag\",\"tags\":{\"b\":\"2\"}}\n");
  ASSERT_TRUE(PollUntil([&] { return observer.pending() == 2; }, std::chrono::seconds(10)));
  follower->Finish();
  // Spooled, not acknowledged: the script's flush() must still wait.
  EXPECT_EQ(Slurp(committed()), CommittedText(0));
  // The later acknowledgement first: the earlier one must not move the number back.
  EXPECT_EQ(observer.AcknowledgeInReverse(), 2);
  EXPECT_EQ(Slurp(committed()), CommittedText(static_cast<int64_t>(writer.written().size())));
}

TEST_F(RecordsFollowerTest, AcknowledgementAfterTheFollowerIsGoneStillCommits) {
  DeferredAckObserver observer;
  FakeSdkWriter writer(records());
  writer.Write("{\"k\":\"props\",\"props\":{\"p\":\"1\"}}\n");
  Follow(observer).reset();  // Finish() in the destructor, then gone
  ASSERT_EQ(observer.Acknowledge(), 1);
  EXPECT_EQ(Slurp(committed()), CommittedText(static_cast<int64_t>(writer.written().size())));
}

TEST_F(RecordsFollowerTest, ALargeWriteIsReportedInBoundedRanges) {
  DeferredAckObserver observer;
  std::unique_ptr<RecordsFollower> follower = Follow(observer);
  FakeSdkWriter writer(records());
  const std::string line =
      "{\"k\":\"metric\",\"n\":\"big\",\"type\":\"list\",\"v\":[" + std::string(1000, '1') + "]}\n";
  std::string lines;
  while (lines.size() < 3 * static_cast<size_t>(RecordsFollower::kMaxRangeBytes)) lines += line;
  writer.Write(lines);
  follower->Finish();
  EXPECT_EQ(observer.file(kHistory), writer.written());
  int64_t next = 0;
  for (const DeferredAckObserver::Range& range : observer.ranges()) {
    EXPECT_EQ(range.offset, next);
    EXPECT_LE(range.length, RecordsFollower::kMaxRangeBytes);
    next = range.offset + range.length;
  }
  EXPECT_EQ(next, static_cast<int64_t>(lines.size()));
}

TEST_F(RecordsFollowerTest, AnIdleRunReportsNothing) {
  DeferredAckObserver observer;
  Follow(observer).reset();
  EXPECT_TRUE(observer.ranges().empty());
  EXPECT_EQ(observer.pending(), 0);
  EXPECT_EQ(Slurp(committed()), CommittedText(0));
}

// The runner end to end: the script finds the channel through RUNYARD_RUN_API_DIR, and
// every record it wrote is reported before the outcome.
TEST(RunnerRecordsTest, TheScriptsRecordsAreReportedBeforeTheOutcome) {
  ScopedTempDir tmp;
  RecordingObserver observer;
  RunnerOptions options;
  options.work_dir = tmp.path();
  options.kill_grace = std::chrono::seconds(2);
  options.sdk_python_dir = tmp.path() / "sdk";
  runyard::v1::RunSpec spec;
  spec.set_experiment("exp");
  spec.add_command("/bin/sh");
  spec.add_command("-c");
  spec.add_command(
      "cat \"$RUNYARD_RUN_API_DIR/context.json\" > /dev/null || exit 3; "
      "echo \"$PYTHONPATH\"; "
      "for i in 1 2 3; do echo \"{\\\"k\\\":\\\"metric\\\",\\\"n\\\":\\\"m\\\",\\\"v\\\":[$i]}\" "
      ">> \"$RUNYARD_RUN_API_DIR/records.jsonl\"; done");
  CancelToken cancel;
  Runner runner(options, nullptr, &observer);
  const RunOutcome outcome = runner.Run("run_records", spec, cancel);
  ASSERT_EQ(outcome.status, runyard::v1::COMPLETED) << outcome.error.message();
  EXPECT_EQ(observer.file(kHistory),
            "{\"k\":\"metric\",\"n\":\"m\",\"v\":[1]}\n{\"k\":\"metric\",\"n\":\"m\",\"v\":[2]}\n"
            "{\"k\":\"metric\",\"n\":\"m\",\"v\":[3]}\n");
  EXPECT_FALSE(observer.bytes_after_finish());
  EXPECT_NE(observer.file("user_logs/std_log.txt").find((tmp.path() / "sdk").string()),
            std::string::npos);
  const RunApiChannel channel = RunApiChannelAt(tmp.path() / "runs" / "run_records");
  EXPECT_EQ(Slurp(channel.committed),
            CommittedText(static_cast<int64_t>(observer.file(kHistory).size())));
}

}  // namespace
}  // namespace runyard::runtime
