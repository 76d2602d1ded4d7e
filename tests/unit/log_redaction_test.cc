// Tests for runtime/log_redaction.h and its place in the ReportingObserver: secret values
// never reach the control plane in a log, bytes keep their offsets, what may begin a
// secret waits, the end of a run sends it, and a resend (or a new process) sends the same
// bytes.

#include "runtime/log_redaction.h"

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

constexpr char kSecret[] = "s3cr3t-Value-42";
constexpr char kStdLog[] = "user_logs/std_log.txt";

void AppendToFile(const fs::path& file, const std::string& bytes) {
  std::ofstream(file, std::ios::binary | std::ios::app) << bytes;
}

// What the records say, put together at their offsets (ranges read from their file).
std::string Assemble(const std::vector<SpoolRecord>& records, const LogRedaction& redaction) {
  std::string file;
  for (const SpoolRecord& record : records) {
    if (record.truncate) file.clear();
    EXPECT_EQ(record.offset, static_cast<int64_t>(file.size())) << "records out of order";
    file += record.kind == SpoolRecord::Kind::kFileRange
                ? redaction.ReadMasked(record.source, record.offset, record.length)
                : record.payload;
  }
  return file;
}

void Add(std::vector<SpoolRecord>& to, std::vector<SpoolRecord> more) {
  to.insert(to.end(), more.begin(), more.end());
}

TEST(LogRedactionTest, OnlyLogsAreMasked) {
  LogRedaction redaction({kSecret});
  for (const char* path : {"user_logs/std_log.txt", "logs/train.log", "system_logs/runtime.txt",
                           "user_logs/std_log_process_3.txt", "user_logs/std_log_node_1.txt",
                           "system_logs/node_1/run_records.jsonl"}) {
    EXPECT_TRUE(redaction.Applies(path)) << path;
  }
  EXPECT_FALSE(redaction.Applies("outputs/model.bin"));
  EXPECT_FALSE(redaction.Applies("outputs/logs/x.txt"));
  EXPECT_FALSE(LogRedaction({}).Applies(kStdLog));
}

TEST(LogRedactionTest, BytesSplitOverTwoWritesWaitForTheSecondHalf) {
  LogRedaction redaction({kSecret});
  const std::string secret = kSecret;
  const std::string first = "token=" + secret.substr(0, 6);
  std::vector<SpoolRecord> records = redaction.TakeBytes(kStdLog, 0, first, false);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].payload, "token=");  // the first half alone is held back
  const std::string second = secret.substr(6) + " done\n";
  Add(records, redaction.TakeBytes(kStdLog, static_cast<int64_t>(first.size()), second, false));
  EXPECT_EQ(Assemble(records, redaction), "token=" + std::string(secret.size(), '*') + " done\n");
}

TEST(LogRedactionTest, HeldBytesGoOutWhenTheRunEnds) {
  LogRedaction redaction({kSecret});
  std::vector<SpoolRecord> records = redaction.TakeBytes(kStdLog, 0, "last: s3cr", false);
  EXPECT_EQ(Assemble(records, redaction), "last: ");
  Add(records, redaction.Flush());
  EXPECT_EQ(Assemble(records, redaction), "last: s3cr");  // only the start of one: text
  EXPECT_TRUE(redaction.Flush().empty());
}

TEST(LogRedactionTest, ASecretAtTheFinalEndIsMasked) {
  LogRedaction redaction({kSecret});
  std::vector<SpoolRecord> records = redaction.TakeBytes(kStdLog, 0, std::string("end ") + kSecret, false);
  Add(records, redaction.Flush());
  EXPECT_EQ(Assemble(records, redaction), "end " + std::string(sizeof kSecret - 1, '*'));
}

TEST(LogRedactionTest, ASecretAcrossMebibytePiecesIsMaskedAndNoPieceIsLarger) {
  LogRedaction redaction({kSecret});
  const int64_t mib = LogRedaction::kMaxPieceBytes;
  std::string file(static_cast<size_t>(2 * mib), '.');
  file.replace(static_cast<size_t>(mib - 4), sizeof kSecret - 1, kSecret);
  std::vector<SpoolRecord> records;
  for (int64_t at = 0; at < 2 * mib; at += mib) {  // as a directory scan hands it on
    Add(records, redaction.TakeBytes("logs/big.log", at, std::string_view(file).substr(at, mib), false));
  }
  Add(records, redaction.Flush());
  for (const SpoolRecord& record : records) EXPECT_LE(record.payload.size(), static_cast<size_t>(mib));
  std::string expected = file;
  expected.replace(static_cast<size_t>(mib - 4), sizeof kSecret - 1, sizeof kSecret - 1, '*');
  EXPECT_EQ(Assemble(records, redaction), expected);
}

TEST(LogRedactionTest, ARewrittenLogForgetsWhatWasHeld) {
  LogRedaction redaction({kSecret});
  std::vector<SpoolRecord> records = redaction.TakeBytes("logs/a.log", 0, "old s3c", false);
  Add(records, redaction.TakeBytes("logs/a.log", 0, "", true));
  ASSERT_FALSE(records.empty());
  EXPECT_TRUE(records.back().truncate);
  Add(records, redaction.TakeBytes("logs/a.log", 0, "new\n", false));
  Add(records, redaction.Flush());
  EXPECT_EQ(Assemble(records, redaction), "new\n");
}

TEST(LogRedactionTest, RangesStopWhereASecretMayBeginAndAreMaskedWhenRead) {
  ScopedTempDir tmp;
  const fs::path log = tmp.path() / "std_log.txt";
  LogRedaction redaction({kSecret});
  const std::string secret = kSecret;
  const std::string first = "line one\nkey " + secret.substr(0, 5);
  AppendToFile(log, first);
  std::vector<SpoolRecord> records = redaction.TakeRange(kStdLog, log, 0, static_cast<int64_t>(first.size()));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].kind, SpoolRecord::Kind::kFileRange);
  EXPECT_EQ(records[0].length, static_cast<int64_t>(first.size()) - 5);
  EXPECT_EQ(Assemble(records, redaction), "line one\nkey ");
  const std::string second = secret.substr(5) + "\n";
  AppendToFile(log, second);
  Add(records, redaction.TakeRange(kStdLog, log, static_cast<int64_t>(first.size()),
                                   static_cast<int64_t>(second.size())));
  Add(records, redaction.Flush());
  EXPECT_EQ(Assemble(records, redaction), "line one\nkey " + std::string(secret.size(), '*') + "\n");
}

TEST(LogRedactionTest, ARangeReadAgainLaterIsTheSame) {
  ScopedTempDir tmp;
  const fs::path log = tmp.path() / "std_log.txt";
  LogRedaction redaction({kSecret});
  AppendToFile(log, std::string("a ") + kSecret + " b s3");
  std::vector<SpoolRecord> records = redaction.TakeRange(kStdLog, log, 0, 22);
  EXPECT_EQ(records[0].length, 20);  // "s3" may begin it
  ASSERT_EQ(records.size(), 1u);
  const std::string then = redaction.ReadMasked(log, records[0].offset, records[0].length);
  AppendToFile(log, std::string("cr3t-Value-42 and ") + kSecret);
  EXPECT_EQ(redaction.ReadMasked(log, records[0].offset, records[0].length), then);
}

TEST(LogRedactionTest, RecordsAreMaskedButNeverHeldBack) {
  ScopedTempDir tmp;
  const fs::path records_file = tmp.path() / "records.jsonl";
  LogRedaction redaction({kSecret});
  const std::string line = std::string("{\"k\":\"tag\",\"v\":\"") + kSecret + "\"}\ns3c";
  AppendToFile(records_file, line);
  std::vector<SpoolRecord> records =
      redaction.TakeRange("system_logs/run_records.jsonl", records_file, 0, static_cast<int64_t>(line.size()));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].length, static_cast<int64_t>(line.size()));
  EXPECT_EQ(Assemble(records, redaction).find(kSecret), std::string::npos);
}

// ------------------------------------------------------------------ in the observer

// A control plane that checks what a resend carries: bytes it already has must be the
// same. `lose_every` > 0: every such Append is applied but answered UNAVAILABLE (the
// answer lost on the way), so the agent sends it again.
class ResendCheckingControlPlane : public RunReporter {
 public:
  explicit ResendCheckingControlPlane(int lose_every = 0) : lose_every_(lose_every) {}

  absl::StatusOr<runyard::v1::UpdateStatusResponse> UpdateStatus(
      const runyard::v1::UpdateStatusRequest&) override {
    std::lock_guard lock(mutex_);
    if (down_) return absl::UnavailableError("down");
    return runyard::v1::UpdateStatusResponse{};
  }
  absl::StatusOr<runyard::v1::AppendResponse> Append(const runyard::v1::AppendRequest& request) override {
    std::unique_lock lock(mutex_);
    ++appends_;
    changed_.notify_all();
    if (down_) return absl::UnavailableError("down");
    std::string& file = files_[request.path()];
    if (request.truncate()) file.clear();
    const auto offset = static_cast<size_t>(request.offset());
    if (offset > file.size()) return absl::OutOfRangeError("gap");
    const size_t overlap = std::min(file.size() - offset, request.data().size());
    if (file.compare(offset, overlap, request.data(), 0, overlap) != 0) ++differing_resends_;
    file.append(request.data().substr(overlap));
    if (lose_every_ > 0 && appends_ % lose_every_ == 0) return absl::UnavailableError("answer lost");
    return runyard::v1::AppendResponse{};
  }

  void SetDown(bool down) {
    std::lock_guard lock(mutex_);
    down_ = down;
  }
  void WaitForAppends(int at_least) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return appends_ >= at_least; });
  }
  std::string File(const std::string& path) {
    std::lock_guard lock(mutex_);
    return files_[path];
  }
  int differing_resends() {
    std::lock_guard lock(mutex_);
    return differing_resends_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  const int lose_every_;
  bool down_ = false;
  int appends_ = 0;
  int differing_resends_ = 0;
  std::map<std::string, std::string> files_;
};

runyard::v1::Lease TestLease() {
  runyard::v1::Lease lease;
  lease.set_run_id("run-1");
  return lease;
}

RunOutcome Completed() {
  RunOutcome outcome;
  outcome.status = runyard::v1::COMPLETED;
  return outcome;
}

std::string Masked(std::string text) {
  for (size_t at; (at = text.find(kSecret)) != std::string::npos;) {
    text.replace(at, sizeof kSecret - 1, sizeof kSecret - 1, '*');
  }
  return text;
}

TEST(RedactingObserverTest, LogsArriveMaskedThroughLostAnswersAndOutputsUntouched) {
  ScopedTempDir tmp;
  const fs::path log = tmp.path() / "std_log.txt";
  ResendCheckingControlPlane server(/*lose_every=*/3);
  CancelToken cancel;
  ReportingObserver observer(&server, TestLease(), &cancel, tmp.path() / "spool" / "run-1");
  observer.OnSecrets({kSecret});
  const std::string secret = kSecret;
  std::string written, logged;
  for (int i = 0; i < 10; ++i) {
    // Each secret written in two pieces, reported apart.
    for (const std::string& piece : {"line " + std::to_string(i) + " " + secret.substr(0, 7), secret.substr(7) + "\n"}) {
      AppendToFile(log, piece);
      observer.OnFileRange(kStdLog, log, static_cast<int64_t>(written.size()), static_cast<int64_t>(piece.size()));
      written += piece;
      observer.OnFileBytes("logs/train.log", static_cast<int64_t>(logged.size()), piece, false);
      logged += piece;
    }
  }
  const std::string output = written;
  observer.OnFileBytes("outputs/copy.txt", 0, output, false);
  AppendToFile(log, "tail " + secret);
  observer.OnFileRange(kStdLog, log, static_cast<int64_t>(written.size()), static_cast<int64_t>(secret.size() + 5));
  written += "tail " + secret;
  observer.OnFinished(Completed());
  EXPECT_EQ(server.File(kStdLog), Masked(written));
  EXPECT_EQ(server.File("logs/train.log"), Masked(logged));
  EXPECT_EQ(server.File("outputs/copy.txt"), output);
  EXPECT_EQ(server.differing_resends(), 0);
  EXPECT_FALSE(fs::exists(tmp.path() / "spool" / "run-1.secrets"));  // gone with the spool
}

TEST(RedactingObserverTest, ANewProcessMasksWhatADeadOneSpooled) {
  ScopedTempDir tmp;
  const fs::path spool = tmp.path() / "spool" / "run-1";
  const fs::path log = tmp.path() / "std_log.txt";
  ResendCheckingControlPlane server;
  server.SetDown(true);
  CancelToken cancel;
  std::string written;
  {
    ReportingObserver first(&server, TestLease(), &cancel, spool);
    first.OnSecrets({kSecret});
    for (int i = 0; i < 20; ++i) {
      const std::string line = "printed " + std::string(kSecret) + " before the crash\n";
      AppendToFile(log, line);
      first.OnFileRange(kStdLog, log, static_cast<int64_t>(written.size()), static_cast<int64_t>(line.size()));
      written += line;
    }
    server.WaitForAppends(1);
  }
  ASSERT_TRUE(fs::exists(spool.string() + ".secrets"));
  EXPECT_EQ(fs::status(spool.string() + ".secrets").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  server.SetDown(false);
  ReportingObserver second(&server, TestLease(), &cancel, spool);
  EXPECT_TRUE(second.Drain());
  EXPECT_EQ(server.File(kStdLog), Masked(written));
}

TEST(RedactingObserverTest, PrintedLogIsMaskedToo) {
  ResendCheckingControlPlane server;
  CancelToken cancel;
  ReportingObserver observer(&server, TestLease(), &cancel);
  std::string printed;
  observer.on_std_log = [&](std::string_view bytes) { printed.append(bytes); };
  observer.OnSecrets({kSecret});
  const std::string line = std::string("pw ") + kSecret + "\n";
  observer.OnFileBytes(kStdLog, 0, line, false);
  observer.OnFinished(Completed());
  EXPECT_EQ(printed, Masked(line));
  EXPECT_EQ(server.File(kStdLog), Masked(line));
}

}  // namespace
}  // namespace runyard::runtime
