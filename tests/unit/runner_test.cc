// Tests for runtime/runner.h: one run end to end on this machine (snapshot, command line,
// process, logs and outputs, outcome), observed through a recording RunObserver.

#include "runtime/runner.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/digest.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/archive.h"

namespace runyard::runtime {
namespace {

namespace fs = std::filesystem;
using runyard::v1::RunStatus;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class ScopedTempDir {
 public:
  ScopedTempDir() {
    std::string pattern = (fs::path(testing::TempDir()) / "runner_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
  }
  ~ScopedTempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Serves snapshots packed by the test, by digest.
class FakeSnapshots : public SnapshotSource {
 public:
  absl::StatusOr<fs::path> FetchSnapshot(const std::string& digest) override {
    auto found = archives_.find(digest);
    if (found == archives_.end()) return absl::NotFoundError("no snapshot " + digest);
    return found->second;
  }

  // Packs `source` into `archive` and returns its digest.
  std::string Add(const fs::path& source, const fs::path& archive) {
    EXPECT_TRUE(PackDirectory(source, archive).ok());
    absl::StatusOr<std::string> digest = common::Sha256File(archive);
    EXPECT_TRUE(digest.ok());
    archives_[*digest] = archive;
    return *digest;
  }

 private:
  std::map<std::string, fs::path> archives_;
};

// Records everything; thread-safe (the launcher, the sync loop and the runner all report).
class RecordingObserver : public RunObserver {
 public:
  explicit RecordingObserver(std::string log_marker = "") : log_marker_(std::move(log_marker)) {}

  void OnStatus(RunStatus status) override {
    std::lock_guard lock(mutex_);
    statuses_.push_back(status);
  }

  void OnFileBytes(const std::string& path, int64_t offset, std::string_view data,
                   bool truncate) override {
    std::lock_guard lock(mutex_);
    if (finished_count_ > 0) bytes_after_finish_ = true;
    std::string& file = files_[path];
    if (truncate) file.clear();
    if (static_cast<int64_t>(file.size()) != offset) {
      bad_offsets_.push_back(path + " @" + std::to_string(offset) + " (have " +
                             std::to_string(file.size()) + ")");
    }
    file.resize(static_cast<size_t>(std::max<int64_t>(offset, 0)));
    file.append(data);
    if (!log_marker_.empty() && !marker_seen_ && path == "user_logs/std_log.txt" &&
        file.find(log_marker_) != std::string::npos) {
      marker_seen_ = true;
      marker_.set_value();
    }
  }

  void OnFinished(const RunOutcome& outcome) override {
    std::lock_guard lock(mutex_);
    ++finished_count_;
    outcome_ = outcome;
  }

  std::future<void> MarkerSeen() { return marker_.get_future(); }

  std::vector<RunStatus> statuses() {
    std::lock_guard lock(mutex_);
    return statuses_;
  }
  // The content of a run-history file as rebuilt from the reported bytes.
  std::string file(const std::string& path) {
    std::lock_guard lock(mutex_);
    auto found = files_.find(path);
    return found == files_.end() ? "<never reported>" : found->second;
  }
  int finished_count() {
    std::lock_guard lock(mutex_);
    return finished_count_;
  }
  RunOutcome outcome() {
    std::lock_guard lock(mutex_);
    return outcome_;
  }
  bool bytes_after_finish() {
    std::lock_guard lock(mutex_);
    return bytes_after_finish_;
  }
  std::vector<std::string> bad_offsets() {
    std::lock_guard lock(mutex_);
    return bad_offsets_;
  }

 private:
  std::mutex mutex_;
  std::vector<RunStatus> statuses_;
  std::map<std::string, std::string> files_;
  std::vector<std::string> bad_offsets_;
  int finished_count_ = 0;
  RunOutcome outcome_;
  bool bytes_after_finish_ = false;
  std::string log_marker_;
  bool marker_seen_ = false;
  std::promise<void> marker_;
};

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override { fs::create_directories(source()); }

  fs::path source() const { return tmp_.path() / "src"; }

  void WriteSource(const std::string& name, const std::string& text) {
    fs::create_directories((source() / name).parent_path());
    std::ofstream(source() / name, std::ios::binary) << text;
  }

  // A spec running `script_text` as train.sh with /bin/sh, from a packed snapshot.
  runyard::v1::RunSpec ShellSpec(const std::string& script_text) {
    WriteSource("train.sh", script_text);
    runyard::v1::RunSpec spec;
    spec.set_experiment("exp");
    spec.add_command("/bin/sh");
    spec.add_command("train.sh");
    spec.set_snapshot_digest(snapshots_.Add(source(), tmp_.path() / "snapshot.tar.gz"));
    return spec;
  }

  RunOutcome Run(const runyard::v1::RunSpec& spec, RecordingObserver& observer) {
    RunnerOptions options;
    options.work_dir = tmp_.path() / "work";
    options.kill_grace = std::chrono::milliseconds(500);
    options.sync_interval = std::chrono::milliseconds(100);
    Runner runner(options, &snapshots_, &observer);
    return runner.Run("run_1", spec, cancel_);
  }

  ScopedTempDir tmp_;
  FakeSnapshots snapshots_;
  CancelToken cancel_;
};

TEST_F(RunnerTest, SuccessfulRunPassesThroughEveryStatusInOrder) {
  RecordingObserver observer;
  RunOutcome outcome = Run(ShellSpec("echo training\n"), observer);
  EXPECT_EQ(outcome.status, runyard::v1::COMPLETED);
  EXPECT_THAT(observer.statuses(), ElementsAre(runyard::v1::PREPARING, runyard::v1::STARTING,
                                               runyard::v1::RUNNING, runyard::v1::FINALIZING));
}

TEST_F(RunnerTest, SuccessfulRunIsReportedCompletedOnceAfterAllBytes) {
  RecordingObserver observer;
  RunOutcome outcome = Run(ShellSpec("echo training\n"), observer);
  EXPECT_EQ(observer.finished_count(), 1);
  EXPECT_EQ(observer.outcome().status, runyard::v1::COMPLETED);
  EXPECT_TRUE(observer.outcome().error.code().empty());
  EXPECT_EQ(outcome.exit_code, 0);
  EXPECT_FALSE(observer.bytes_after_finish());
  EXPECT_THAT(observer.bad_offsets(), IsEmpty());
}

TEST_F(RunnerTest, OutputOfTheScriptGoesToStdLog) {
  RecordingObserver observer;
  Run(ShellSpec("echo training\necho oops >&2\necho done\n"), observer);
  EXPECT_EQ(observer.file("user_logs/std_log.txt"), "training\noops\ndone\n");
}

TEST_F(RunnerTest, FilesWrittenToOutputsAndLogsAreReported) {
  RecordingObserver observer;
  Run(ShellSpec("echo weights > outputs/model.txt\n"
                "mkdir -p logs/tb && echo event > logs/tb/events\n"),
      observer);
  EXPECT_EQ(observer.file("outputs/model.txt"), "weights\n");
  EXPECT_EQ(observer.file("logs/tb/events"), "event\n");
}

TEST_F(RunnerTest, ScriptSeesTheRunyardEnvironmentAndTheSpecsVariables) {
  RecordingObserver observer;
  runyard::v1::RunSpec spec = ShellSpec(
      "echo \"id=$RUNYARD_RUN_ID exp=$RUNYARD_EXPERIMENT seed=$SEED\"\n"
      "echo \"out=$RUNYARD_OUTPUT_DIR\"\n");
  (*spec.mutable_environment()->mutable_environment_variables())["SEED"] = "7";
  Run(spec, observer);
  const std::string log = observer.file("user_logs/std_log.txt");
  EXPECT_THAT(log, HasSubstr("id=run_1 exp=exp seed=7\n"));
  EXPECT_THAT(log, HasSubstr("/runs/run_1/wd/outputs\n"));
}

TEST_F(RunnerTest, ArgumentsFollowTheCommand) {
  RecordingObserver observer;
  runyard::v1::RunSpec spec = ShellSpec("echo \"args: $*\"\n");
  spec.add_arguments("--epochs");
  spec.add_arguments("40");
  Run(spec, observer);
  EXPECT_EQ(observer.file("user_logs/std_log.txt"), "args: --epochs 40\n");
}

TEST_F(RunnerTest, PythonScriptRunsWithTheGivenInterpreter) {
  if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3";
  WriteSource(
      "train.py",
      "import os, sys\n"
      "print('python', sys.argv[1:])\n"
      "open(os.path.join(os.environ['RUNYARD_OUTPUT_DIR'], 'model.txt'), 'w').write('w')\n");
  runyard::v1::RunSpec spec;
  spec.set_script("train.py");
  spec.add_arguments("--lr");
  spec.add_arguments("1.0");
  spec.mutable_environment()->mutable_python()->set_user_managed_dependencies(true);
  spec.mutable_environment()->mutable_python()->set_interpreter_path("/usr/bin/python3");
  spec.set_snapshot_digest(snapshots_.Add(source(), tmp_.path() / "snapshot.tar.gz"));
  RecordingObserver observer;
  RunOutcome outcome = Run(spec, observer);
  EXPECT_EQ(outcome.status, runyard::v1::COMPLETED) << outcome.error.message();
  EXPECT_EQ(observer.file("user_logs/std_log.txt"), "python ['--lr', '1.0']\n");
  EXPECT_EQ(observer.file("outputs/model.txt"), "w");
}

TEST_F(RunnerTest, NonZeroExitIsAUserError) {
  RecordingObserver observer;
  RunOutcome outcome = Run(ShellSpec("echo failing\nexit 3\n"), observer);
  EXPECT_EQ(outcome.status, runyard::v1::FAILED);
  EXPECT_EQ(outcome.error.code(), "UserError");
  EXPECT_TRUE(outcome.has_exit_code);
  EXPECT_EQ(outcome.exit_code, 3);
  EXPECT_EQ(observer.outcome().status, runyard::v1::FAILED);
  EXPECT_EQ(observer.outcome().exit_code, 3);
  EXPECT_THAT(observer.statuses(), ElementsAre(runyard::v1::PREPARING, runyard::v1::STARTING,
                                               runyard::v1::RUNNING, runyard::v1::FINALIZING));
}

TEST_F(RunnerTest, ExitCodeListedAsSuccessfulCompletes) {
  RecordingObserver observer;
  runyard::v1::RunSpec spec = ShellSpec("exit 3\n");
  spec.add_successful_return_codes(0);
  spec.add_successful_return_codes(3);
  RunOutcome outcome = Run(spec, observer);
  EXPECT_EQ(outcome.status, runyard::v1::COMPLETED);
  EXPECT_EQ(outcome.exit_code, 3);
}

TEST_F(RunnerTest, ZeroExitIsAFailureWhenNotListedAsSuccessful) {
  RecordingObserver observer;
  runyard::v1::RunSpec spec = ShellSpec("exit 0\n");
  spec.add_successful_return_codes(1);
  EXPECT_EQ(Run(spec, observer).status, runyard::v1::FAILED);
}

TEST_F(RunnerTest, MissingInterpreterIsAnEnvironmentFailure) {
  WriteSource("train.py", "print('never')\n");
  runyard::v1::RunSpec spec;
  spec.set_script("train.py");
  spec.mutable_environment()->mutable_python()->set_interpreter_path(
      (tmp_.path() / "no-python" / "bin" / "python3").string());
  spec.set_snapshot_digest(snapshots_.Add(source(), tmp_.path() / "snapshot.tar.gz"));
  RecordingObserver observer;
  RunOutcome outcome = Run(spec, observer);
  EXPECT_EQ(outcome.status, runyard::v1::FAILED);
  EXPECT_EQ(outcome.error.code(), "EnvironmentBuildFailed");
  EXPECT_EQ(observer.outcome().error.code(), "EnvironmentBuildFailed");
  EXPECT_THAT(observer.statuses(), ElementsAre(runyard::v1::PREPARING));
}

TEST_F(RunnerTest, ScriptMissingFromTheSnapshotIsAUserError) {
  if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3";
  WriteSource("other.py", "print('x')\n");
  runyard::v1::RunSpec spec;
  spec.set_script("train.py");
  spec.mutable_environment()->mutable_python()->set_interpreter_path("/usr/bin/python3");
  spec.set_snapshot_digest(snapshots_.Add(source(), tmp_.path() / "snapshot.tar.gz"));
  RecordingObserver observer;
  RunOutcome outcome = Run(spec, observer);
  EXPECT_EQ(outcome.status, runyard::v1::FAILED);
  EXPECT_EQ(outcome.error.code(), "UserError");
  EXPECT_THAT(outcome.error.message(), HasSubstr("train.py"));
}

TEST_F(RunnerTest, UnavailableSnapshotFailsTheRun) {
  runyard::v1::RunSpec spec;
  spec.add_command("/bin/true");
  spec.set_snapshot_digest(common::Sha256Hex("never packed"));
  RecordingObserver observer;
  RunOutcome outcome = Run(spec, observer);
  EXPECT_EQ(outcome.status, runyard::v1::FAILED);
  EXPECT_EQ(outcome.error.code(), "SnapshotUnavailable");
  EXPECT_EQ(observer.finished_count(), 1);
}

TEST_F(RunnerTest, HostileSnapshotIsRejected) {
  const fs::path archive = tmp_.path() / "not-a-tarball";
  std::ofstream(archive) << "plain text, no tar.gz";
  runyard::v1::RunSpec spec;
  spec.add_command("/bin/true");
  class OneFile : public SnapshotSource {
   public:
    explicit OneFile(fs::path file) : file_(std::move(file)) {}
    absl::StatusOr<fs::path> FetchSnapshot(const std::string&) override { return file_; }

   private:
    fs::path file_;
  } source(archive);
  spec.set_snapshot_digest(common::Sha256Hex("whatever"));
  RecordingObserver observer;
  RunnerOptions options;
  options.work_dir = tmp_.path() / "work";
  RunOutcome outcome = Runner(options, &source, &observer).Run("run_1", spec, cancel_);
  EXPECT_EQ(outcome.status, runyard::v1::FAILED);
  EXPECT_EQ(outcome.error.code(), "SnapshotRejected");
}

TEST_F(RunnerTest, SystemLogTellsWhatHappened) {
  RecordingObserver observer;
  Run(ShellSpec("exit 0\n"), observer);
  const std::string log = observer.file("system_logs/runtime.txt");
  EXPECT_THAT(log, HasSubstr("starting: /bin/sh train.sh"));
  EXPECT_THAT(log, HasSubstr("process exited with code 0"));
  EXPECT_THAT(log, HasSubstr("run ended: Completed"));
}

TEST_F(RunnerTest, DeadlineCancelsTheRunWithMaxRunDurationExceeded) {
  RecordingObserver observer;
  runyard::v1::RunSpec spec = ShellSpec("echo started\nexec sleep 60\n");
  spec.set_max_run_duration_seconds(1);
  RunOutcome outcome = Run(spec, observer);
  EXPECT_EQ(outcome.status, runyard::v1::CANCELED);
  EXPECT_EQ(outcome.error.code(), "MaxRunDurationExceeded");
  EXPECT_EQ(observer.file("user_logs/std_log.txt"), "started\n");
}

TEST_F(RunnerTest, CancelWhileRunningEndsCanceled) {
  RecordingObserver observer("ready\n");
  std::future<void> ready = observer.MarkerSeen();
  std::thread canceller([&] {
    ready.wait();
    cancel_.RequestCancel();
  });
  RunOutcome outcome = Run(ShellSpec("echo ready\nexec sleep 60\n"), observer);
  canceller.join();
  EXPECT_EQ(outcome.status, runyard::v1::CANCELED);
  EXPECT_EQ(outcome.error.code(), "Canceled");
  EXPECT_EQ(observer.outcome().status, runyard::v1::CANCELED);
  EXPECT_THAT(observer.statuses(), ElementsAre(runyard::v1::PREPARING, runyard::v1::STARTING,
                                               runyard::v1::RUNNING, runyard::v1::FINALIZING));
}

TEST_F(RunnerTest, OutputsWrittenBeforeACancelStillReachRunHistory) {
  RecordingObserver observer("ready\n");
  std::future<void> ready = observer.MarkerSeen();
  std::thread canceller([&] {
    ready.wait();
    cancel_.RequestCancel();
  });
  Run(ShellSpec("echo partial > outputs/checkpoint.txt\necho ready\nexec sleep 60\n"), observer);
  canceller.join();
  EXPECT_EQ(observer.file("outputs/checkpoint.txt"), "partial\n");
}

TEST_F(RunnerTest, CancelBeforeStartNeverStartsTheProcess) {
  cancel_.RequestCancel();
  RecordingObserver observer;
  RunOutcome outcome = Run(ShellSpec("echo should-not-run > outputs/ran.txt\n"), observer);
  EXPECT_EQ(outcome.status, runyard::v1::CANCELED);
  EXPECT_EQ(outcome.error.code(), "Canceled");
  EXPECT_THAT(observer.statuses(), ElementsAre(runyard::v1::PREPARING));
  EXPECT_EQ(observer.file("outputs/ran.txt"), "<never reported>");
}

TEST_F(RunnerTest, AgentShutdownFailsTheRunInsteadOfCancelingIt) {
  RecordingObserver observer("ready\n");
  std::future<void> ready = observer.MarkerSeen();
  std::thread canceller([&] {
    ready.wait();
    cancel_.RequestCancel(CancelToken::Reason::kAgentShutdown);
  });
  RunOutcome outcome = Run(ShellSpec("echo ready\nexec sleep 60\n"), observer);
  canceller.join();
  EXPECT_EQ(outcome.status, runyard::v1::FAILED);
  EXPECT_EQ(outcome.error.code(), "AgentShutdown");
}

TEST_F(RunnerTest, BadRunIdFailsWithoutTouchingTheDisk) {
  RecordingObserver observer;
  RunnerOptions options;
  options.work_dir = tmp_.path() / "work";
  runyard::v1::RunSpec spec;
  spec.add_command("/bin/true");
  RunOutcome outcome = Runner(options, &snapshots_, &observer).Run("../escape", spec, cancel_);
  EXPECT_EQ(outcome.status, runyard::v1::FAILED);
  EXPECT_EQ(outcome.error.code(), "NodeError");
  EXPECT_FALSE(fs::exists(tmp_.path() / "work" / "escape"));
  EXPECT_EQ(observer.finished_count(), 1);
}

}  // namespace
}  // namespace runyard::runtime
