// Tests for sandbox/bubblewrap.h and sandbox/bubblewrap_sandbox.h: the command line,
// bwrap's status stream, what the sandbox class hands the launcher (no bwrap run), and
// real sandboxed processes through the launcher (skipped where bwrap cannot run).

#include "sandbox/bubblewrap.h"

#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include "common/ids.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/launcher.h"
#include "sandbox/bubblewrap_sandbox.h"
#include "sandbox/containment.h"
#include "tests/fakes/recording_output.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::sandbox {
namespace {

namespace fs = std::filesystem;
using ::runyard::fakes::RecordingOutput;
using ::runyard::testutil::ScopedTempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Index of `value` in `args`, or -1.
int IndexOf(const std::vector<std::string>& args, const std::string& value) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == value) return static_cast<int>(i);
  }
  return -1;
}

TEST(BubblewrapArgumentsTest, SystemReadOnlyWithFreshTmpProcAndDev) {
  BubblewrapPolicy policy;
  const std::vector<std::string> args =
      BubblewrapArguments(policy, "/w", 3, "/usr/bin/python3", {"train.py"});
  EXPECT_THAT(std::vector<std::string>(args.begin(), args.begin() + 3),
              ElementsAre("--ro-bind", "/", "/"));
  EXPECT_GE(IndexOf(args, "--tmpfs"), 0);
  EXPECT_EQ(args[IndexOf(args, "--tmpfs") + 1], "/tmp");
  EXPECT_EQ(args[IndexOf(args, "--proc") + 1], "/proc");
  EXPECT_EQ(args[IndexOf(args, "--dev") + 1], "/dev");
  EXPECT_GE(IndexOf(args, "--die-with-parent"), 0);
  EXPECT_GE(IndexOf(args, "--unshare-all"), 0);
  EXPECT_EQ(args[IndexOf(args, "--json-status-fd") + 1], "3");
  EXPECT_EQ(args[IndexOf(args, "--chdir") + 1], "/w");
}

TEST(BubblewrapArgumentsTest, CommandFollowsTheDoubleDashVerbatim) {
  const std::vector<std::string> args =
      BubblewrapArguments({}, "/w", 3, "/usr/bin/python3", {"train.py", "--bind", "--", "x y"});
  const int dash = IndexOf(args, "--");
  ASSERT_GE(dash, 0);
  EXPECT_THAT(std::vector<std::string>(args.begin() + dash + 1, args.end()),
              ElementsAre("/usr/bin/python3", "train.py", "--bind", "--", "x y"));
}

TEST(BubblewrapArgumentsTest, NetworkIsSharedOnlyWhenAllowed) {
  BubblewrapPolicy policy;
  policy.network = true;
  EXPECT_GE(IndexOf(BubblewrapArguments(policy, "/w", 3, "/bin/true", {}), "--share-net"), 0);
  policy.network = false;
  EXPECT_EQ(IndexOf(BubblewrapArguments(policy, "/w", 3, "/bin/true", {}), "--share-net"), -1);
}

TEST(BubblewrapArgumentsTest, HiddenPathsComeBeforeTheRunsOwnFolders) {
  BubblewrapPolicy policy;
  policy.hidden = {"/var/lib/agent"};
  policy.readable = {"/var/lib/agent/envs/abc"};
  policy.writable = {"/var/lib/agent/runs/r1/wd"};
  const std::vector<std::string> args = BubblewrapArguments(policy, "/w", 3, "/bin/true", {});
  const int hide = IndexOf(args, "/var/lib/agent");
  const int show = IndexOf(args, "/var/lib/agent/envs/abc");
  const int write = IndexOf(args, "/var/lib/agent/runs/r1/wd");
  ASSERT_GE(hide, 1);
  EXPECT_EQ(args[hide - 1], "--tmpfs");
  EXPECT_EQ(args[show - 1], "--ro-bind");
  EXPECT_EQ(args[write - 1], "--bind");
  EXPECT_LT(hide, show);
  EXPECT_LT(show, write);
}

TEST(BubblewrapArgumentsTest, FoldersLeadingToAShownPathAreTraversableAndHiddenOnesReadOnly) {
  BubblewrapPolicy policy;
  policy.hidden = {"/a"};
  policy.writable = {"/a/runs/r1/wd"};
  const std::vector<std::string> args = BubblewrapArguments(policy, "/w", 3, "/bin/true", {});
  const int runs = IndexOf(args, "/a/runs");
  const int run = IndexOf(args, "/a/runs/r1");
  ASSERT_GE(runs, 3);
  EXPECT_EQ(args[runs - 1], "--dir");
  EXPECT_EQ(args[runs - 2], "0555");
  EXPECT_LT(runs, run);
  // After the binds, the hidden tmpfs is remounted read-only.
  int remount = -1;
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--remount-ro" && args[i + 1] == "/a") remount = static_cast<int>(i);
  }
  EXPECT_GT(remount, IndexOf(args, "/a/runs/r1/wd"));
}

TEST(BubblewrapArgumentsTest, FoldersLeadingToAPathUnderTmpAreMadeTraversable) {
  BubblewrapPolicy policy;
  policy.hidden = {"/tmp/e2e/agent"};
  policy.writable = {"/tmp/e2e/agent/runs/r1/wd"};
  const std::vector<std::string> args = BubblewrapArguments(policy, "/w", 3, "/bin/true", {});
  const int e2e = IndexOf(args, "/tmp/e2e");
  ASSERT_GE(e2e, 1);
  EXPECT_EQ(args[e2e - 1], "--dir");
  EXPECT_LT(e2e, IndexOf(args, "/tmp/e2e/agent"));
  EXPECT_EQ(args[IndexOf(args, "/tmp/e2e/agent/runs") - 1], "--dir");
}

TEST(BubblewrapArgumentsTest, AHiddenPathInsideAnotherIsMountedAfterIt) {
  BubblewrapPolicy policy;
  policy.hidden = {"/srv/agent/work", "/srv/agent"};
  const std::vector<std::string> args = BubblewrapArguments(policy, "/w", 3, "/bin/true", {});
  EXPECT_LT(IndexOf(args, "/srv/agent"), IndexOf(args, "/srv/agent/work"));
}

TEST(BubblewrapStatusTest, ChildPidAndExitCode) {
  const BubblewrapStatus status = ParseBubblewrapStatus(
      "{ \"child-pid\": 6911, \"cgroup-namespace\": 4026532181 }\n{ \"exit-code\": 3 }\n");
  ASSERT_TRUE(status.child_pid.has_value());
  EXPECT_EQ(*status.child_pid, 6911);
  ASSERT_TRUE(status.exit_code.has_value());
  EXPECT_EQ(*status.exit_code, 3);
}

TEST(BubblewrapStatusTest, NothingWrittenMeansTheSandboxNeverStarted) {
  const BubblewrapStatus status = ParseBubblewrapStatus("");
  EXPECT_FALSE(status.child_pid.has_value());
  EXPECT_FALSE(status.exit_code.has_value());
}

TEST(BubblewrapStatusTest, GarbageAndTruncatedLinesAreIgnored) {
  const BubblewrapStatus status =
      ParseBubblewrapStatus("not json\n{\"child-pid\": \"x\"}\n{ \"exit-co");
  EXPECT_FALSE(status.child_pid.has_value());
  EXPECT_FALSE(status.exit_code.has_value());
}

TEST(CheckBubblewrapTest, MissingBinaryIsAClearError) {
  absl::StatusOr<fs::path> found = CheckBubblewrap("runyard-no-such-bwrap");
  ASSERT_FALSE(found.ok());
  EXPECT_THAT(std::string(found.status().message()), HasSubstr("runyard-no-such-bwrap"));
  EXPECT_THAT(std::string(found.status().message()), HasSubstr("bubblewrap"));
}

// ------------------------------------------------------------------ BubblewrapSandbox

class BubblewrapSandboxTest : public ::testing::Test {
 protected:
  BubblewrapSandboxTest() {
    policy_.bwrap = "/usr/bin/bwrap";
    policy_.hidden = {"/srv/agent"};
    policy_.writable = {"/srv/agent/runs/r1/wd"};
  }

  // One launch of `/usr/bin/python3 train.py --lr 1` in /srv/agent/runs/r1/wd.
  std::unique_ptr<SandboxedLaunch> Prepare(const BubblewrapSandbox& sandbox) {
    absl::StatusOr<std::unique_ptr<SandboxedLaunch>> launch =
        sandbox.Prepare({"/usr/bin/python3", {"train.py", "--lr", "1"}, "/srv/agent/runs/r1/wd"});
    EXPECT_TRUE(launch.ok()) << launch.status();
    return launch.ok() ? std::move(*launch) : nullptr;
  }

  // Writes `status` as bwrap would on its status pipe, then lets the child's end go.
  static void BwrapSays(SandboxedLaunch& launch, const std::string& status) {
    ASSERT_EQ(::write(launch.exec().inherit_fd, status.data(), status.size()),
              static_cast<ssize_t>(status.size()));
    launch.Spawned();
  }

  ScopedTempDir tmp_;
  BubblewrapPolicy policy_;
};

TEST_F(BubblewrapSandboxTest, ExecsBwrapWithThePolicysArgumentsAroundTheCommand) {
  BubblewrapSandbox sandbox(policy_);
  std::unique_ptr<SandboxedLaunch> launch = Prepare(sandbox);
  ASSERT_NE(launch, nullptr);
  EXPECT_EQ(launch->exec().executable, "/usr/bin/bwrap");
  EXPECT_EQ(launch->exec().arguments,
            BubblewrapArguments(policy_, "/srv/agent/runs/r1/wd", BubblewrapSandbox::kStatusFd,
                                "/usr/bin/python3", {"train.py", "--lr", "1"}));
}

TEST_F(BubblewrapSandboxTest, HandsTheStatusPipeToTheChildAsFd3) {
  BubblewrapSandbox sandbox(policy_);
  std::unique_ptr<SandboxedLaunch> launch = Prepare(sandbox);
  ASSERT_NE(launch, nullptr);
  EXPECT_GE(launch->exec().inherit_fd, 0);
  EXPECT_EQ(launch->exec().inherit_as, 3);
  const std::vector<std::string>& args = launch->exec().arguments;
  EXPECT_EQ(args[IndexOf(args, "--json-status-fd") + 1], "3");
  launch->Spawned();
  EXPECT_EQ(launch->exec().inherit_fd, -1) << "the parent's copy of the write end must be closed";
}

TEST_F(BubblewrapSandboxTest, SparesBwrapsOwnProcessFromTheSigterm) {
  BubblewrapSandbox sandbox(policy_);
  std::unique_ptr<SandboxedLaunch> launch = Prepare(sandbox);
  ASSERT_NE(launch, nullptr);
  EXPECT_EQ(launch->SparedFromTerm(4242), 4242);
}

TEST_F(BubblewrapSandboxTest, GivesTheRunItsOwnTmpAndDescribesWhatIsWritable) {
  policy_.network = false;
  BubblewrapSandbox sandbox(policy_);
  EXPECT_EQ(sandbox.name(), "bubblewrap");
  EXPECT_TRUE(sandbox.GivesPrivateTmp());
  EXPECT_EQ(
      sandbox.Description(),
      "sandboxed by bubblewrap: system read-only, writable /srv/agent/runs/r1/wd, no network");
}

TEST_F(BubblewrapSandboxTest, AnExitCodeOnTheStatusPipeMeansTheScriptRan) {
  BubblewrapSandbox sandbox(policy_);
  std::unique_ptr<SandboxedLaunch> launch = Prepare(sandbox);
  ASSERT_NE(launch, nullptr);
  BwrapSays(*launch, "{ \"child-pid\": 12 }\n{ \"exit-code\": 1 }\n");
  launch->SawOutput("bwrap: pretend\n");
  EXPECT_EQ(launch->SetupError({.exited = true, .exit_code = 1}, ""), "");
}

TEST_F(BubblewrapSandboxTest, NoExitCodeIsASetupErrorInBwrapsWords) {
  BubblewrapSandbox sandbox(policy_);
  std::unique_ptr<SandboxedLaunch> launch = Prepare(sandbox);
  ASSERT_NE(launch, nullptr);
  BwrapSays(*launch, "{ \"child-pid\": 12 }\n");
  launch->SawOutput("bwrap: Can't find source path /x: No such file or directory\nbwrap: second\n");
  EXPECT_EQ(launch->SetupError({.exited = true, .exit_code = 1}, ""),
            "Can't find source path /x: No such file or directory; second");
}

TEST_F(BubblewrapSandboxTest, InOutputFileModeBwrapsWordsAreReadFromTheFile) {
  const fs::path output = tmp_.path() / "std_log.txt";
  std::ofstream(output) << std::string(20000, 'x')
                        << "\nbwrap: execvp nothing: No such file or directory\n";
  BubblewrapSandbox sandbox(policy_);
  std::unique_ptr<SandboxedLaunch> launch = Prepare(sandbox);
  ASSERT_NE(launch, nullptr);
  BwrapSays(*launch, "");
  EXPECT_EQ(launch->SetupError({.exited = true, .exit_code = 1}, output),
            "execvp nothing: No such file or directory");
}

TEST_F(BubblewrapSandboxTest, SilentBwrapIsDescribedByHowItEnded) {
  BubblewrapSandbox sandbox(policy_);
  std::unique_ptr<SandboxedLaunch> exited = Prepare(sandbox);
  ASSERT_NE(exited, nullptr);
  BwrapSays(*exited, "");
  EXPECT_EQ(exited->SetupError({.exited = true, .exit_code = 1}, ""),
            "bubblewrap exited with code 1 before the script started");
  std::unique_ptr<SandboxedLaunch> killed = Prepare(sandbox);
  ASSERT_NE(killed, nullptr);
  BwrapSays(*killed, "");
  EXPECT_EQ(killed->SetupError({.term_signal = SIGSEGV}, ""),
            "bubblewrap was killed by signal 11 before the script started");
}

TEST_F(BubblewrapSandboxTest, ARunKilledDuringSetupIsNoSetupError) {
  BubblewrapSandbox sandbox(policy_);
  std::unique_ptr<SandboxedLaunch> launch = Prepare(sandbox);
  ASSERT_NE(launch, nullptr);
  BwrapSays(*launch, "");
  EXPECT_THAT(launch->SetupError({.term_signal = SIGTERM, .killed = true}, ""), IsEmpty());
}

TEST_F(BubblewrapSandboxTest, ASandboxedOrphanHoldingThePipeDoesNotBlockTheReading) {
  BubblewrapSandbox sandbox(policy_);
  std::unique_ptr<SandboxedLaunch> launch = Prepare(sandbox);
  ASSERT_NE(launch, nullptr);
  // The write end stays open (as if an orphan in the sandbox held it): the read must not wait.
  const std::string status = "{ \"exit-code\": 0 }\n";
  ASSERT_EQ(::write(launch->exec().inherit_fd, status.data(), status.size()),
            static_cast<ssize_t>(status.size()));
  EXPECT_EQ(launch->SetupError({.exited = true}, ""), "");
}

// ------------------------------------------------------------------ real sandboxes

class SandboxedLaunchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<fs::path> bwrap = CheckBubblewrap("bwrap");
    if (!bwrap.ok()) GTEST_SKIP() << bwrap.status().message();
    policy_.bwrap = *bwrap;
    fs::create_directories(tmp_.path() / "agent" / "runs" / "wd");
    fs::create_directories(tmp_.path() / "agent" / "secret");
    std::ofstream(tmp_.path() / "agent" / "secret" / "token") << "s3cr3t";
    working_dir_ = tmp_.path() / "agent" / "runs" / "wd";
    policy_.hidden = {tmp_.path() / "agent"};
    policy_.writable = {working_dir_};
    tag_ = "bwrap-test-" + common::RandomHex(8);
    containment_ =
        std::move(*ContainmentFactory::Create(ContainmentFactory::Preference::kProcessGroup)
                       .value()
                       ->ForRun("r", tag_));
  }

  runtime::LaunchRequest Shell(const std::string& script) {
    runtime::LaunchRequest request;
    request.executable = "/bin/sh";
    request.arguments = {"-c", script};
    request.working_dir = working_dir_;
    request.environment = {{"PATH", "/usr/bin:/bin"}, {kRunTagVariable, tag_}};
    request.containment = containment_.get();
    sandbox_.emplace(policy_);
    request.sandbox = &*sandbox_;
    return request;
  }

  // Runs `request`; with a `marker`, cancels the run once its output holds it.
  runtime::LaunchResult Launch(const runtime::LaunchRequest& request,
                               const std::string& marker = "") {
    RecordingOutput output(marker);
    std::thread canceller;
    if (!marker.empty()) {
      canceller = std::thread([this, ready = output.MarkerSeen()] {
        ready.wait();
        cancel_.RequestCancel();
      });
    }
    runtime::LaunchResult result = runtime::LaunchAndWait(request, output.Callback(), cancel_);
    if (canceller.joinable()) {
      output.Release();
      canceller.join();
    }
    output_ = output.text();
    return result;
  }

  ScopedTempDir tmp_;
  BubblewrapPolicy policy_;
  fs::path working_dir_;
  std::string tag_;
  std::unique_ptr<Containment> containment_;
  std::optional<BubblewrapSandbox> sandbox_;
  runtime::CancelToken cancel_;
  std::string output_;  // what the last Launch printed
};

TEST_F(SandboxedLaunchTest, ExitCodeIsTheScripts) {
  runtime::LaunchResult result = Launch(Shell("exit 7"));
  EXPECT_TRUE(result.started);
  EXPECT_TRUE(result.exited);
  EXPECT_EQ(result.exit_code, 7);
  EXPECT_EQ(result.sandbox_error, "");
}

TEST_F(SandboxedLaunchTest, OnlyTheWorkingDirectoryAndTmpAreWritable) {
  runtime::LaunchResult result =
      Launch(Shell("touch ok && echo wd-writable; touch /tmp/t && echo tmp-writable; "
                   "touch /etc/runyard-bwrap-test 2>/dev/null || echo etc-readonly; "
                   "touch ../escape 2>/dev/null || echo parent-hidden-or-readonly"));
  EXPECT_EQ(result.exit_code, 0) << output_;
  EXPECT_THAT(output_, HasSubstr("wd-writable"));
  EXPECT_THAT(output_, HasSubstr("tmp-writable"));
  EXPECT_THAT(output_, HasSubstr("etc-readonly"));
  EXPECT_THAT(output_, HasSubstr("parent-hidden-or-readonly"));
  EXPECT_TRUE(fs::exists(working_dir_ / "ok"));
  EXPECT_FALSE(fs::exists("/etc/runyard-bwrap-test"));
  EXPECT_FALSE(fs::exists(working_dir_.parent_path() / "escape"));
}

TEST_F(SandboxedLaunchTest, HiddenFilesAreNotVisible) {
  const fs::path token = tmp_.path() / "agent" / "secret" / "token";
  runtime::LaunchResult result =
      Launch(Shell("cat " + token.string() + " 2>/dev/null || echo no-token"));
  EXPECT_EQ(result.exit_code, 0) << output_;
  EXPECT_THAT(output_, HasSubstr("no-token"));
  EXPECT_THAT(output_, ::testing::Not(HasSubstr("s3cr3t")));
}

TEST_F(SandboxedLaunchTest, OwnPidNamespaceAndProc) {
  runtime::LaunchResult result = Launch(Shell("echo pid=$$"));
  EXPECT_EQ(result.exit_code, 0) << output_;
  // bwrap's init is pid 1 inside; the script is its child.
  EXPECT_THAT(output_, HasSubstr("pid=2"));
}

TEST_F(SandboxedLaunchTest, NoNetworkWhenNotAllowed) {
  policy_.network = false;
  runtime::LaunchResult result = Launch(Shell("cat /proc/net/dev"));
  EXPECT_EQ(result.exit_code, 0) << output_;
  EXPECT_THAT(output_, HasSubstr("lo:"));
  EXPECT_THAT(output_, ::testing::Not(HasSubstr("eth")));
}

TEST_F(SandboxedLaunchTest, SetupErrorIsReportedApartFromTheExitCode) {
  policy_.writable.push_back(tmp_.path() / "does-not-exist");
  runtime::LaunchResult result = Launch(Shell("echo the script ran"));
  EXPECT_TRUE(result.started);
  EXPECT_THAT(result.sandbox_error, HasSubstr("does-not-exist"));
  EXPECT_THAT(output_, ::testing::Not(HasSubstr("the script ran")));
}

TEST_F(SandboxedLaunchTest, ScriptThatExitsWithBwrapsErrorCodeIsNotASetupError) {
  runtime::LaunchResult result = Launch(Shell("echo 'bwrap: pretend'; exit 1"));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.sandbox_error, "");
}

// A cancel's SIGTERM reaches the script, not bwrap: the script gets its grace period to
// save its work instead of being SIGKILLed with the sandbox.
TEST_F(SandboxedLaunchTest, CancelGivesTheScriptItsGrace) {
  runtime::LaunchRequest request = Shell(
      "trap 'echo saved > checkpoint; exit 0' TERM; echo ready; while :; do sleep 0.05; done");
  request.kill_grace = std::chrono::seconds(30);
  runtime::LaunchResult result = Launch(request, "ready");
  EXPECT_TRUE(result.canceled);
  EXPECT_TRUE(fs::exists(working_dir_ / "checkpoint")) << output_;
  EXPECT_TRUE(containment_->Empty());
}

TEST_F(SandboxedLaunchTest, CancelKillsAScriptThatIgnoresSigterm) {
  runtime::LaunchRequest request =
      Shell("trap '' TERM; (setsid sleep 300 &); echo ready; sleep 300");
  request.kill_grace = std::chrono::milliseconds(300);
  runtime::LaunchResult result = Launch(request, "ready");
  EXPECT_TRUE(result.canceled);
  EXPECT_TRUE(containment_->Empty());
  EXPECT_TRUE(FindTaggedProcesses(tag_).empty());
}

}  // namespace
}  // namespace runyard::sandbox
