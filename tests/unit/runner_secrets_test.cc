// A real run whose spec holds a secret variable, reported through the agent's upload path
// (ReportingObserver, std_log.txt as ranges of the file) and local mode's (the log printed,
// so handed on as bytes): the control plane never gets the secret's bytes, not even half
// of it while the script is between two writes, nor where it straddles 1 MiB.

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "common/read_file.h"
#include "gtest/gtest.h"
#include "runtime/reporting_observer.h"
#include "runtime/runner.h"
#include "tests/fakes/fake_blob_source.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::runtime {
namespace {

namespace fs = std::filesystem;
using ::runyard::testutil::ScopedTempDir;

constexpr char kSecret[] = "ry-sekrit-0123456789abcdef";
constexpr char kStdLog[] = "user_logs/std_log.txt";

// A control plane in memory that keeps each run file and lets a test wait until one holds
// some text.
class WatchedControlPlane : public RunReporter {
 public:
  absl::StatusOr<runyard::v1::UpdateStatusResponse> UpdateStatus(
      const runyard::v1::UpdateStatusRequest&) override {
    return runyard::v1::UpdateStatusResponse{};
  }
  absl::StatusOr<runyard::v1::AppendResponse> Append(const runyard::v1::AppendRequest& request) override {
    std::lock_guard lock(mutex_);
    std::string& file = files_[request.path()];
    if (request.truncate()) file.clear();
    if (request.offset() > static_cast<int64_t>(file.size())) return absl::OutOfRangeError("gap");
    const size_t have = file.size() - static_cast<size_t>(request.offset());
    if (have < request.data().size()) file.append(request.data().substr(have));
    changed_.notify_all();
    return runyard::v1::AppendResponse{};
  }

  // What run file `path` holds once it contains `text` (what it holds after 60 s if never).
  std::string WaitFor(const std::string& path, const std::string& text) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, std::chrono::seconds(60),
                      [&] { return files_[path].find(text) != std::string::npos; });
    return files_[path];
  }
  std::map<std::string, std::string> files() {
    std::lock_guard lock(mutex_);
    return files_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::string> files_;
};

// The script: the secret whole; then its first half, a wait for the file `go` (the test
// makes it once it saw what came before the half arrive), and the rest; then, after
// filler, the secret across offset 1 MiB of std_log.txt; and the secret in a logs/ file.
std::string Script() {
  const std::string secret = kSecret;
  const std::string head = "whole: " + secret + "\nsplit: ";
  const int64_t straddle_at = (1 << 20) - 6;  // the secret's first byte
  const int64_t before_filler =
      static_cast<int64_t>(head.size() + secret.size() + std::string("\n").size());
  const int64_t filler = straddle_at - before_filler;
  return "printf 'whole: %s\\n' \"$API_TOKEN\"\n"
         "printf 'split: %s' \"$(printf %s \"$API_TOKEN\" | cut -c1-10)\"\n"
         "while [ ! -e go ]; do sleep 0.02; done\n"
         "printf '%s\\n' \"$(printf %s \"$API_TOKEN\" | cut -c11-)\"\n"
         "head -c " + std::to_string(filler) + " /dev/zero | tr '\\0' x\n"
         "printf '%s\\n' \"$API_TOKEN\"\n"
         "mkdir -p logs && printf 'token %s\\n' \"$API_TOKEN\" > logs/train.log\n";
}

class RunnerSecretsTest : public ::testing::TestWithParam<bool> {};

TEST_P(RunnerSecretsTest, NoSecretByteReachesTheControlPlane) {
  const bool printed = GetParam();  // local mode prints std_log.txt: it goes as bytes
  ScopedTempDir tmp;
  fakes::FakeBlobSource blobs(tmp.path() / "blobs");
  WatchedControlPlane server;
  CancelToken cancel;
  ReportingObserver observer(&server, runyard::v1::Lease(), &cancel, tmp.path() / "spool" / "run_1");
  std::string terminal;
  if (printed) observer.on_std_log = [&](std::string_view bytes) { terminal.append(bytes); };

  runyard::v1::RunSpec spec;
  spec.set_experiment("exp");
  spec.add_command("/bin/sh");
  spec.add_command("-c");
  spec.add_command(Script());
  (*spec.mutable_environment()->mutable_environment_variables())["API_TOKEN"] = kSecret;
  RunnerOptions options;
  options.work_dir = tmp.path() / "work";
  options.kill_grace = std::chrono::milliseconds(500);
  options.sync_interval = std::chrono::milliseconds(100);
  Runner runner(options, &blobs, &observer);
  const fs::path wd = tmp.path() / "work" / "runs" / "run_1" / "wd";

  std::thread go([&] {
    // The secret's first half is on disk, the script waits: none of it may be sent.
    const std::string seen = server.WaitFor(kStdLog, "split: ");
    EXPECT_TRUE(seen.ends_with("split: ")) << seen;
    std::ofstream(wd / "go") << "";
  });
  RunOutcome outcome = runner.Run("run_1", spec, cancel);
  go.join();
  ASSERT_EQ(outcome.status, runyard::v1::COMPLETED) << outcome.error.message();

  const std::string secret = kSecret;
  const std::string mask(secret.size(), '*');
  const std::string on_disk =
      common::ReadFileOrEmpty(tmp.path() / "work" / "runs" / "run_1" / "user_logs" / "std_log.txt");
  ASSERT_EQ(on_disk.substr((1 << 20) - 6, secret.size()), secret) << "the script did not straddle 1 MiB";
  std::map<std::string, std::string> files = server.files();
  std::string expected = on_disk;
  for (size_t at; (at = expected.find(secret)) != std::string::npos;) expected.replace(at, secret.size(), mask);
  EXPECT_EQ(files[kStdLog].size(), on_disk.size());  // every byte in place
  EXPECT_TRUE(files[kStdLog] == expected) << "std_log.txt differs from the masked file";
  EXPECT_EQ(files["logs/train.log"], "token " + mask + "\n");
  for (const auto& [path, bytes] : files) {
    EXPECT_EQ(bytes.find(secret.substr(0, 10)), std::string::npos) << path;
  }
  if (printed) EXPECT_TRUE(terminal == expected) << "the terminal showed other bytes";
}

INSTANTIATE_TEST_SUITE_P(AgentAndLocal, RunnerSecretsTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Printed" : "Ranges";
                         });

}  // namespace
}  // namespace runyard::runtime
