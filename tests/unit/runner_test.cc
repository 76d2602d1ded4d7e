// Tests for runtime/runner.h: one run end to end on this machine (snapshot, command line,
// process, logs and outputs, outcome), observed through a recording RunObserver.

#include "runtime/runner.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/snapshot_builder.h"
#include "common/cas_directory.h"
#include "common/digest.h"
#include "common/snapshot_manifest.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/blob_cache.h"
#include "runtime/overlay.h"
#include "runtime/snapshot_stage.h"
#include "sandbox/bubblewrap.h"
#include "tests/fakes/fake_blob_source.h"
#include "tests/fakes/recording_observer.h"
#include "tests/unit/overlay_probe.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::runtime {
namespace {

namespace fs = std::filesystem;
using runyard::v1::RunStatus;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

using ::runyard::fakes::FakeBlobSource;
using ::runyard::fakes::RecordingObserver;
using ::runyard::testutil::ScopedTempDir;

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override { fs::create_directories(source()); }

  fs::path source() const { return tmp_.path() / "src"; }

  void WriteSource(const std::string& name, const std::string& text) {
    fs::create_directories((source() / name).parent_path());
    std::ofstream(source() / name, std::ios::binary) << text;
  }

  // A spec running `script_text` as train.sh with /bin/sh, from an uploaded snapshot.
  runyard::v1::RunSpec ShellSpec(const std::string& script_text) {
    WriteSource("train.sh", script_text);
    runyard::v1::RunSpec spec;
    spec.set_experiment("exp");
    spec.add_command("/bin/sh");
    spec.add_command("train.sh");
    spec.set_snapshot_id(UploadSnapshot(source()));
    return spec;
  }

  RunOutcome Run(const runyard::v1::RunSpec& spec, RecordingObserver& observer) {
    return Run("run_1", spec, observer, blobs_);
  }

  RunOutcome Run(const std::string& run_id, const runyard::v1::RunSpec& spec,
                 RecordingObserver& observer, BlobSource& source) {
    Runner runner(Options(), &source, &observer);
    return runner.Run(run_id, spec, cancel_);
  }

  RunnerOptions Options() {
    RunnerOptions options;
    options.work_dir = tmp_.path() / "work";
    options.cache = &cache_;
    options.materialization = materialization_;
    options.kill_grace = std::chrono::milliseconds(500);
    options.sync_interval = std::chrono::milliseconds(100);
    options.bubblewrap = bubblewrap_;
    return options;
  }

  // Builds the snapshot of `folder` as the CLI would, puts its blobs and manifest on the
  // "server", and returns the snapshot id.
  std::string UploadSnapshot(const fs::path& folder) {
    absl::StatusOr<cli::BuiltSnapshot> built = cli::BuildSnapshot(folder, "");
    EXPECT_TRUE(built.ok()) << built.status();
    if (!built.ok()) return "";
    for (const auto& [digest, file] : built->file_of_digest) {
      absl::StatusOr<std::string> put = blobs_.server().PutFile(file);
      EXPECT_TRUE(put.ok()) << put.status();
      EXPECT_EQ(put.value_or(""), digest);
    }
    absl::StatusOr<std::string> id = blobs_.server().Put(built->manifest_bytes);
    EXPECT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(id.value_or(""), built->id);
    return built->id;
  }

  // Stores `manifest` on the "server" (its file blobs are not) and returns its id.
  std::string UploadManifestBytes(const std::string& bytes) {
    absl::StatusOr<std::string> id = blobs_.server().Put(bytes);
    EXPECT_TRUE(id.ok()) << id.status();
    return id.value_or("");
  }

  fs::path working_dir(const std::string& run_id = "run_1") const {
    return tmp_.path() / "work" / "runs" / run_id / "wd";
  }

  ScopedTempDir tmp_;
  FakeBlobSource blobs_{tmp_.path() / "server-blobs"};
  BlobCache cache_{tmp_.path() / "node-cache", 0};
  Materialization materialization_ = Materialization::kAuto;
  std::optional<sandbox::BubblewrapPolicy> bubblewrap_;
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
  spec.set_snapshot_id(UploadSnapshot(source()));
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
  spec.set_snapshot_id(UploadSnapshot(source()));
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
  spec.set_snapshot_id(UploadSnapshot(source()));
  RecordingObserver observer;
  RunOutcome outcome = Run(spec, observer);
  EXPECT_EQ(outcome.status, runyard::v1::FAILED);
  EXPECT_EQ(outcome.error.code(), "UserError");
  EXPECT_THAT(outcome.error.message(), HasSubstr("train.py"));
}

TEST_F(RunnerTest, UnavailableSnapshotFailsTheRun) {
  runyard::v1::RunSpec spec;
  spec.add_command("/bin/true");
  spec.set_snapshot_id(common::Sha256Hex("never uploaded"));
  RecordingObserver observer;
  RunOutcome outcome = Run(spec, observer);
  EXPECT_EQ(outcome.status, runyard::v1::FAILED);
  EXPECT_EQ(outcome.error.code(), "SnapshotUnavailable");
  EXPECT_EQ(observer.finished_count(), 1);
}

TEST_F(RunnerTest, SnapshotWithAFileBlobMissingOnTheServerIsUnavailable) {
  WriteSource("train.sh", "exit 0\n");
  WriteSource("data.txt", "lost data\n");
  runyard::v1::RunSpec spec;
  spec.add_command("/bin/sh");
  spec.add_command("train.sh");
  spec.set_snapshot_id(UploadSnapshot(source()));
  fs::remove(blobs_.server().PathOf(common::Sha256Hex("lost data\n")));
  RecordingObserver observer;
  RunOutcome outcome = Run(spec, observer);
  EXPECT_EQ(outcome.status, runyard::v1::FAILED);
  EXPECT_EQ(outcome.error.code(), "SnapshotUnavailable");
  EXPECT_THAT(observer.statuses(), ElementsAre(runyard::v1::PREPARING));
}

TEST_F(RunnerTest, SnapshotIdThatIsNotADigestIsRejected) {
  runyard::v1::RunSpec spec;
  spec.add_command("/bin/true");
  spec.set_snapshot_id("../../etc/passwd");
  RecordingObserver observer;
  RunOutcome outcome = Run(spec, observer);
  EXPECT_EQ(outcome.status, runyard::v1::FAILED);
  EXPECT_EQ(outcome.error.code(), "SnapshotRejected");
}

TEST_F(RunnerTest, HostileSnapshotIsRejected) {
  // Manifest bytes that are not a protobuf at all: field 1 claims 64 bytes, 3 follow.
  runyard::v1::RunSpec spec;
  spec.add_command("/bin/true");
  spec.set_snapshot_id(
      UploadManifestBytes(std::string("\x0a\x40"
                                      "abc",
                                      5)));
  RecordingObserver observer;
  RunOutcome outcome = Run(spec, observer);
  EXPECT_EQ(outcome.status, runyard::v1::FAILED);
  EXPECT_EQ(outcome.error.code(), "SnapshotRejected");
}

TEST_F(RunnerTest, ManifestEscapingTheWorkingDirectoryIsRejectedAndWritesNothingOutside) {
  ASSERT_TRUE(blobs_.server().Put("owned\n").ok());
  runyard::v1::SnapshotManifest manifest;
  auto* entry = manifest.add_entries();
  entry->set_path("../../escaped.txt");
  entry->set_mode(0644);
  entry->set_size(6);
  entry->set_digest(common::Sha256Hex("owned\n"));
  runyard::v1::RunSpec spec;
  spec.add_command("/bin/true");
  spec.set_snapshot_id(UploadManifestBytes(common::SerializeManifest(manifest)));
  RecordingObserver observer;
  RunOutcome outcome = Run(spec, observer);
  EXPECT_EQ(outcome.status, runyard::v1::FAILED);
  EXPECT_EQ(outcome.error.code(), "SnapshotRejected");
  EXPECT_THAT(outcome.error.message(), HasSubstr("../../escaped.txt"));
  EXPECT_FALSE(fs::exists(tmp_.path() / "work" / "runs" / "escaped.txt"));
  EXPECT_FALSE(fs::exists(tmp_.path() / "work" / "escaped.txt"));
}

TEST_F(RunnerTest, SnapshotTreeWithModesAndEmptyFoldersIsTheWorkingDirectory) {
  WriteSource("pkg/util.sh", "echo util\n");
  WriteSource("tool.sh", "#!/bin/sh\necho tool\n");
  fs::permissions(source() / "tool.sh",
                  fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                  fs::perm_options::add);
  fs::create_directories(source() / "empty" / "nested");
  RecordingObserver observer;
  RunOutcome outcome = Run(ShellSpec("./tool.sh\n. pkg/util.sh\n"
                                     "test -d empty/nested && echo has-empty\n"),
                           observer);
  EXPECT_EQ(outcome.status, runyard::v1::COMPLETED) << outcome.error.message();
  EXPECT_EQ(observer.file("user_logs/std_log.txt"), "tool\nutil\nhas-empty\n");
}

TEST_F(RunnerTest, BlobsAreFetchedIntoTheNodeCacheOnceAndReusedByTheNextRun) {
  WriteSource("data.txt", "shared data\n");
  runyard::v1::RunSpec spec = ShellSpec("cat data.txt\n");
  RecordingObserver first;
  ASSERT_EQ(Run("run_1", spec, first, blobs_).status, runyard::v1::COMPLETED);
  EXPECT_TRUE(cache_.cas().Has(spec.snapshot_id()));
  EXPECT_TRUE(cache_.cas().Has(common::Sha256Hex("shared data\n")));
  EXPECT_EQ(blobs_.fetched().size(), 3u);  // manifest, train.sh, data.txt
  EXPECT_THAT(first.file("system_logs/runtime.txt"), HasSubstr("fetched 3 blobs"));

  RecordingObserver second;
  ASSERT_EQ(Run("run_2", spec, second, blobs_).status, runyard::v1::COMPLETED);
  EXPECT_EQ(blobs_.fetched().size(), 3u);  // nothing more
  EXPECT_THAT(second.file("system_logs/runtime.txt"), HasSubstr("fetched 0 blobs"));
  EXPECT_EQ(second.file("user_logs/std_log.txt"), "shared data\n");
}

TEST_F(RunnerTest, ScriptChangingASnapshotFileLeavesTheCacheBlobAlone) {
  WriteSource("data.txt", "original\n");
  runyard::v1::RunSpec spec = ShellSpec("echo changed > data.txt\ncat data.txt\n");
  RecordingObserver observer;
  ASSERT_EQ(Run(spec, observer).status, runyard::v1::COMPLETED);
  EXPECT_EQ(observer.file("user_logs/std_log.txt"), "changed\n");
  const fs::path blob = cache_.cas().PathOf(common::Sha256Hex("original\n"));
  std::ifstream in(blob, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  EXPECT_EQ(bytes.str(), "original\n");
}

TEST_F(RunnerTest, CopyMaterializationGivesTheScriptItsOwnFiles) {
  materialization_ = Materialization::kCopy;
  WriteSource("data.txt", "original\n");
  RecordingObserver observer;
  RunOutcome outcome = Run(ShellSpec("echo changed > data.txt\n"), observer);
  ASSERT_EQ(outcome.status, runyard::v1::COMPLETED) << outcome.error.message();
  EXPECT_THAT(observer.file("system_logs/runtime.txt"), HasSubstr("(copies)"));
  std::ifstream in(working_dir() / "data.txt");
  std::stringstream written;
  written << in.rdbuf();
  EXPECT_EQ(written.str(), "changed\n");
  std::ifstream blob(cache_.cas().PathOf(common::Sha256Hex("original\n")), std::ios::binary);
  std::stringstream cached;
  cached << blob.rdbuf();
  EXPECT_EQ(cached.str(), "original\n");
}

TEST_F(RunnerTest, OverlayRunLeavesWhatItWroteInTheWorkingDirectoryAndTheCacheAlone) {
  if (!testutil::OverlaySupported(tmp_.path()))
    GTEST_SKIP() << "no overlay mounts here (needs root and overlayfs)";
  materialization_ = Materialization::kOverlay;
  WriteSource("data.txt", "original\n");
  WriteSource("keep.txt", "untouched\n");
  RecordingObserver observer;
  RunOutcome outcome = Run(ShellSpec("echo changed > data.txt\nchmod 600 keep.txt\n"), observer);
  ASSERT_EQ(outcome.status, runyard::v1::COMPLETED) << outcome.error.message();
  EXPECT_THAT(observer.file("system_logs/runtime.txt"), HasSubstr("(overlay on hardlinks)"));
  std::ifstream in(working_dir() / "data.txt");
  std::stringstream written;
  written << in.rdbuf();
  EXPECT_EQ(written.str(), "changed\n");
  const fs::path blob = cache_.cas().PathOf(common::Sha256Hex("original\n"));
  std::ifstream cached_in(blob, std::ios::binary);
  std::stringstream cached;
  cached << cached_in.rdbuf();
  EXPECT_EQ(cached.str(), "original\n");
  EXPECT_EQ(fs::status(cache_.cas().PathOf(common::Sha256Hex("untouched\n"))).permissions() &
                fs::perms::group_read,
            fs::perms::group_read);  // the chmod was copied up, not applied to the blob
  EXPECT_FALSE(
      fs::exists(tmp_.path() / "work" / "runs" / "run_1" / "snapshot"));  // lower tree removed
}

TEST_F(RunnerTest, OverlayRunCannotChangeTheCacheThroughTheLowerLayer) {
  if (!testutil::OverlaySupported(tmp_.path()))
    GTEST_SKIP() << "no overlay mounts here (needs root and overlayfs)";
  materialization_ = Materialization::kOverlay;
  WriteSource("data.txt", "original\n");
  RecordingObserver observer;
  // The lower layer (<run>/snapshot/, hardlinks into the cache) is one folder up from wd/.
  RunOutcome outcome = Run(ShellSpec("ls ../snapshot >/dev/null 2>&1 && echo reachable\n"
                                     "echo evil > ../snapshot/data.txt 2>/dev/null; exit 0\n"),
                           observer);
  ASSERT_EQ(outcome.status, runyard::v1::COMPLETED) << outcome.error.message();
  const std::string digest = common::Sha256Hex("original\n");
  std::ifstream cached_in(cache_.cas().PathOf(digest), std::ios::binary);
  std::stringstream cached;
  cached << cached_in.rdbuf();
  // The lower tree is bound read-only: a write through ../snapshot must not reach the cache.
  EXPECT_EQ(cached.str(), "original\n") << "the run wrote into the cache blob through ../snapshot ("
                                        << observer.file("user_logs/std_log.txt") << ")";
  EXPECT_EQ(common::Sha256File(cache_.cas().PathOf(digest)).value_or(""), digest);
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

TEST_F(RunnerTest, BubblewrapRunIsSandboxedAndSaysSo) {
  absl::StatusOr<fs::path> bwrap = sandbox::CheckBubblewrap("bwrap");
  if (!bwrap.ok()) GTEST_SKIP() << bwrap.status().message();
  bubblewrap_.emplace().bwrap = *bwrap;
  RecordingObserver observer;
  RunOutcome outcome =
      Run(ShellSpec("echo sandboxed > outputs/model.txt\n"
                    "touch /etc/runyard-runner-test 2>/dev/null || echo etc-readonly\n"),
          observer);
  ASSERT_EQ(outcome.status, runyard::v1::COMPLETED) << outcome.error.message();
  EXPECT_EQ(observer.file("outputs/model.txt"), "sandboxed\n");
  EXPECT_EQ(observer.file("user_logs/std_log.txt"), "etc-readonly\n");
  EXPECT_THAT(
      observer.file("system_logs/runtime.txt"),
      HasSubstr("sandboxed by bubblewrap: system read-only, writable " + working_dir().string()));
}

TEST_F(RunnerTest, SandboxThatCannotBeBuiltIsASandboxSetupFailure) {
  absl::StatusOr<fs::path> bwrap = sandbox::CheckBubblewrap("bwrap");
  if (!bwrap.ok()) GTEST_SKIP() << bwrap.status().message();
  sandbox::BubblewrapPolicy& policy = bubblewrap_.emplace();
  policy.bwrap = *bwrap;
  policy.writable = {tmp_.path() / "does-not-exist"};
  RecordingObserver observer;
  RunOutcome outcome = Run(ShellSpec("echo the script ran\n"), observer);
  EXPECT_EQ(outcome.status, runyard::v1::FAILED);
  EXPECT_EQ(outcome.error.code(), "SandboxSetupFailed");
  EXPECT_THAT(outcome.error.message(),
              HasSubstr("bubblewrap could not set up the run's sandbox: "));
  EXPECT_THAT(outcome.error.message(), HasSubstr("does-not-exist"));
  EXPECT_THAT(observer.file("user_logs/std_log.txt"), Not(HasSubstr("the script ran")));
}

TEST_F(RunnerTest, BadRunIdFailsWithoutTouchingTheDisk) {
  RecordingObserver observer;
  runyard::v1::RunSpec spec;
  spec.add_command("/bin/true");
  RunOutcome outcome = Run("../escape", spec, observer, blobs_);
  EXPECT_EQ(outcome.status, runyard::v1::FAILED);
  EXPECT_EQ(outcome.error.code(), "NodeError");
  EXPECT_FALSE(fs::exists(tmp_.path() / "work" / "escape"));
  EXPECT_EQ(observer.finished_count(), 1);
}

}  // namespace
}  // namespace runyard::runtime
