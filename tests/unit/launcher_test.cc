// Tests for runtime/launcher.h: one process (and its group) under supervision: output,
// exit status, environment, deadline, cancel, nothing left behind, and how the launcher
// uses the run's sandbox (sandbox/sandbox.h, driven by a FakeSandbox).
//
// No test sleeps to wait for something: they wait for output markers, for the call to
// return, or (for processes that must die) for a pidfd to become readable.

#include "runtime/launcher.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandbox/process_group_containment.h"
#include "tests/fakes/fake_sandbox.h"
#include "tests/fakes/recording_output.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::runtime {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

using ::runyard::fakes::FakeSandbox;
using ::runyard::fakes::RecordingOutput;
using ::runyard::testutil::ScopedTempDir;

// Orphaned descendants (a run's background children) are reparented to this process
// while it lives, so they can be waited for and reaped deterministically instead of
// depending on how quickly the machine's init reaps them.
class ScopedSubreaper {
 public:
  ScopedSubreaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }
  ~ScopedSubreaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0); }
};

class LauncherTest : public ::testing::Test {
 protected:
  LaunchRequest Shell(const std::string& script) {
    LaunchRequest request;
    request.executable = "/bin/sh";
    request.arguments = {"-c", script};
    request.working_dir = tmp_.path();
    request.environment = {{"PATH", "/usr/bin:/bin"}};
    return request;
  }

  LaunchResult Launch(const LaunchRequest& request, RecordingOutput& output) {
    return LaunchAndWait(
        request, output.Callback(), cancel_, [this](pid_t pid) { pgid_ = pid; },
        [this](const std::string& line) { events_.push_back(line); });
  }

  // Waits (bounded) until `pid`, a descendant of this process, has died, then reaps it.
  // Returns false when it was still alive after `timeout_ms` (it is killed then).
  static bool WaitForDeathAndReap(pid_t pid, int timeout_ms = 5000) {
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) return errno == ESRCH;  // already gone and reaped
    pollfd entry{pidfd, POLLIN, 0};
    const bool died = ::poll(&entry, 1, timeout_ms) == 1;
    if (!died) ::kill(pid, SIGKILL);
    ::close(pidfd);
    ::waitpid(pid, nullptr, 0);  // ECHILD when someone else reaped it: fine
    return died;
  }

  static bool GroupIsGone(pid_t pgid) { return ::kill(-pgid, 0) == -1 && errno == ESRCH; }

  // Entries of /proc/self/fd (the listing's own descriptor included, every time alike).
  static int OpenDescriptors() {
    int count = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/fd")) ++count;
    return count;
  }

  ScopedTempDir tmp_;
  CancelToken cancel_;
  pid_t pgid_ = -1;
  std::vector<std::string> events_;  // written on the launcher's thread, read after it returns
};

// ------------------------------------------------------------------ normal runs

TEST_F(LauncherTest, ReportsExitCodeAndMergedOutputInOrder) {
  RecordingOutput output;
  LaunchResult result = Launch(Shell("echo hi; echo err >&2; exit 3"), output);
  EXPECT_TRUE(result.started);
  EXPECT_TRUE(result.exited);
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(result.term_signal, 0);
  EXPECT_FALSE(result.deadline_exceeded);
  EXPECT_FALSE(result.canceled);
  EXPECT_EQ(output.text(), "hi\nerr\n");
}

TEST_F(LauncherTest, ZeroExitIsReportedAsExited) {
  RecordingOutput output;
  LaunchResult result = Launch(Shell("exit 0"), output);
  EXPECT_TRUE(result.exited);
  EXPECT_EQ(result.exit_code, 0);
}

TEST_F(LauncherTest, ArgumentsArePassedVerbatim) {
  RecordingOutput output;
  LaunchRequest request = Shell("printf '[%s]' \"$@\"");
  request.arguments.push_back("sh");  // $0
  request.arguments.push_back("a b");
  request.arguments.push_back("*");
  request.arguments.push_back("");
  LaunchResult result = Launch(request, output);
  EXPECT_TRUE(result.exited);
  EXPECT_EQ(output.text(), "[a b][*][]");
}

TEST_F(LauncherTest, OnStartedGetsTheProcessGroupLeader) {
  RecordingOutput output;
  LaunchResult result =
      Launch(Shell("echo pid $$; echo pgid $(cut -d' ' -f5 /proc/$$/stat)"), output);
  ASSERT_TRUE(result.exited);
  EXPECT_GT(pgid_, 0);
  EXPECT_EQ(output.PidAfter("pid"), pgid_);
  EXPECT_EQ(output.PidAfter("pgid"), pgid_);
}

TEST_F(LauncherTest, ChildRunsInItsOwnSession) {
  RecordingOutput output;
  LaunchResult result = Launch(Shell("echo sid $(cut -d' ' -f6 /proc/$$/stat)"), output);
  ASSERT_TRUE(result.exited);
  EXPECT_EQ(output.PidAfter("sid"), pgid_);
  EXPECT_NE(output.PidAfter("sid"), ::getsid(0));
}

TEST_F(LauncherTest, ChildGetsExactlyTheGivenEnvironment) {
  ::setenv("RUNYARD_LAUNCHER_TEST_LEAK", "leaked", 1);
  RecordingOutput output;
  LaunchRequest request = Shell("echo \"foo=$FOO leak=${RUNYARD_LAUNCHER_TEST_LEAK:-none}\"");
  request.environment["FOO"] = "bar baz";
  LaunchResult result = Launch(request, output);
  ::unsetenv("RUNYARD_LAUNCHER_TEST_LEAK");
  ASSERT_TRUE(result.exited);
  EXPECT_EQ(output.text(), "foo=bar baz leak=none\n");
}

TEST_F(LauncherTest, ChildStartsInTheWorkingDirectory) {
  const fs::path dir = tmp_.path() / "work dir";
  fs::create_directories(dir);
  RecordingOutput output;
  LaunchRequest request = Shell("pwd -P");
  request.working_dir = dir;
  LaunchResult result = Launch(request, output);
  ASSERT_TRUE(result.exited);
  EXPECT_EQ(output.text(), fs::canonical(dir).string() + "\n");
}

TEST_F(LauncherTest, MissingExecutableIsNotStarted) {
  RecordingOutput output;
  LaunchRequest request;
  request.executable = tmp_.path() / "no-such-binary";
  request.working_dir = tmp_.path();
  LaunchResult result = Launch(request, output);
  EXPECT_FALSE(result.started);
  EXPECT_FALSE(result.start_error.empty());
  EXPECT_FALSE(result.exited);
  EXPECT_EQ(pgid_, -1) << "on_started must not be called for a process that never started";
}

TEST_F(LauncherTest, MissingWorkingDirectoryIsNotStarted) {
  RecordingOutput output;
  LaunchRequest request = Shell("echo should-not-run");
  request.working_dir = tmp_.path() / "absent";
  LaunchResult result = Launch(request, output);
  EXPECT_FALSE(result.started);
  EXPECT_FALSE(result.start_error.empty());
  EXPECT_THAT(output.text(), Not(HasSubstr("should-not-run")));
}

TEST_F(LauncherTest, DeathBySignalIsReportedAsSignal) {
  RecordingOutput output;
  LaunchResult result = Launch(Shell("kill -KILL $$"), output);
  EXPECT_TRUE(result.started);
  EXPECT_FALSE(result.exited);
  EXPECT_EQ(result.term_signal, SIGKILL);
  EXPECT_FALSE(result.deadline_exceeded);
  EXPECT_FALSE(result.canceled);
}

TEST_F(LauncherTest, LargeOutputArrivesWhole) {
  RecordingOutput output;
  // 200000 lines of "0123456789\n" (2.2 MB): more than any pipe buffer.
  LaunchResult result =
      Launch(Shell("line=$(printf '0123456789\\n%.0s' $(seq 100)); i=0; "
                   "while [ $i -lt 2000 ]; do printf '%s\\n' \"$line\"; i=$((i+1)); done"),
             output);
  ASSERT_TRUE(result.exited);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(output.text().size(), 2000u * 100u * 11u);
}

TEST_F(LauncherTest, FinishedRunLeavesNoBackgroundProcessBehind) {
  ScopedSubreaper subreaper;
  RecordingOutput output;
  LaunchResult result = Launch(Shell("sleep 60 & echo child $!; exit 0"), output);
  ASSERT_TRUE(result.exited);
  EXPECT_EQ(result.exit_code, 0);
  const pid_t child = output.PidAfter("child");
  ASSERT_GT(child, 0) << output.text();
  EXPECT_TRUE(WaitForDeathAndReap(child)) << "background child survived its run";
  EXPECT_TRUE(GroupIsGone(pgid_));
}

// ------------------------------------------------------------------ deadline

TEST_F(LauncherTest, DeadlineStopsAProcessThatHonoursSigterm) {
  RecordingOutput output;
  LaunchRequest request = Shell("exec sleep 60");
  request.max_duration = std::chrono::milliseconds(200);
  request.kill_grace = std::chrono::seconds(30);
  LaunchResult result = Launch(request, output);
  EXPECT_TRUE(result.deadline_exceeded);
  EXPECT_FALSE(result.canceled);
  EXPECT_FALSE(result.exited);
  EXPECT_EQ(result.term_signal, SIGTERM);
}

TEST_F(LauncherTest, DeadlineKillsAGroupThatIgnoresSigterm) {
  ScopedSubreaper subreaper;
  RecordingOutput output;
  LaunchRequest request = Shell("trap '' TERM; sleep 60 & echo child $!; wait");
  // Long enough for the shell to set its trap even on a loaded machine.
  request.max_duration = std::chrono::milliseconds(500);
  request.kill_grace = std::chrono::milliseconds(500);
  LaunchResult result = Launch(request, output);

  EXPECT_TRUE(result.started);
  EXPECT_TRUE(result.deadline_exceeded);
  EXPECT_FALSE(result.canceled);
  EXPECT_FALSE(result.exited);
  EXPECT_EQ(result.term_signal, SIGKILL);

  const pid_t child = output.PidAfter("child");
  ASSERT_GT(child, 0) << output.text();
  EXPECT_TRUE(WaitForDeathAndReap(child)) << "background child survived the deadline";
  EXPECT_TRUE(GroupIsGone(pgid_)) << "a process of group " << pgid_ << " is still there";
}

TEST_F(LauncherTest, DeadlineLogsTheSignalsItSends) {
  RecordingOutput output;
  LaunchRequest request = Shell("trap '' TERM; exec sleep 60");
  request.max_duration = std::chrono::milliseconds(500);
  request.kill_grace = std::chrono::milliseconds(200);
  LaunchResult result = Launch(request, output);
  ASSERT_TRUE(result.deadline_exceeded);
  ASSERT_EQ(events_.size(), 2u) << ::testing::PrintToString(events_);
  EXPECT_THAT(events_[0], HasSubstr("SIGTERM"));
  EXPECT_THAT(events_[0], HasSubstr(std::to_string(pgid_)));
  EXPECT_THAT(events_[1], HasSubstr("SIGKILL"));
}

TEST_F(LauncherTest, ProcessThatEndsBeforeTheDeadlineIsNotMarked) {
  RecordingOutput output;
  LaunchRequest request = Shell("exit 0");
  request.max_duration = std::chrono::seconds(60);
  LaunchResult result = Launch(request, output);
  EXPECT_TRUE(result.exited);
  EXPECT_FALSE(result.deadline_exceeded);
  EXPECT_THAT(events_, IsEmpty());
}

// ------------------------------------------------------------------ cancel

TEST_F(LauncherTest, CancelFromAnotherThreadStopsTheRun) {
  RecordingOutput output("ready\n");
  std::future<void> ready = output.MarkerSeen();
  std::thread canceller([&] {
    ready.wait();
    cancel_.RequestCancel();
  });
  LaunchResult result = Launch(Shell("echo ready; exec sleep 60"), output);
  canceller.join();
  EXPECT_TRUE(result.started);
  EXPECT_TRUE(result.canceled);
  EXPECT_FALSE(result.deadline_exceeded);
  EXPECT_FALSE(result.exited);
  EXPECT_EQ(result.term_signal, SIGTERM);
  EXPECT_THAT(events_, Contains(HasSubstr("SIGTERM")));
}

TEST_F(LauncherTest, CancelKillsAGroupThatIgnoresSigtermAfterTheGrace) {
  ScopedSubreaper subreaper;
  RecordingOutput output("ready\n");
  std::future<void> ready = output.MarkerSeen();
  std::thread canceller([&] {
    ready.wait();
    cancel_.RequestCancel();
  });
  LaunchRequest request = Shell("trap '' TERM; sleep 60 & echo child $!; echo ready; wait");
  request.kill_grace = std::chrono::milliseconds(300);
  LaunchResult result = Launch(request, output);
  canceller.join();
  EXPECT_TRUE(result.canceled);
  EXPECT_EQ(result.term_signal, SIGKILL);
  const pid_t child = output.PidAfter("child");
  ASSERT_GT(child, 0) << output.text();
  EXPECT_TRUE(WaitForDeathAndReap(child));
  EXPECT_TRUE(GroupIsGone(pgid_));
}

// The agent and the CLI block SIGTERM in their threads to take it with sigwait; the
// script must not inherit that mask, or a cancel's SIGTERM would wait for the SIGKILL.
TEST_F(LauncherTest, ChildHearsSigtermEvenWhenTheLaunchingThreadBlocksIt) {
  RecordingOutput output("ready\n");
  std::future<void> ready = output.MarkerSeen();
  std::thread canceller([&] {
    ready.wait();
    cancel_.RequestCancel();
  });
  LaunchRequest request = Shell("echo ready; exec sleep 60");
  request.kill_grace = std::chrono::seconds(5);
  LaunchResult result;
  std::thread launcher([&] {
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &blocked, nullptr);
    result = Launch(request, output);
  });
  launcher.join();
  canceller.join();
  EXPECT_TRUE(result.canceled);
  EXPECT_EQ(result.term_signal, SIGTERM) << "the child did not die of the SIGTERM";
}

TEST_F(LauncherTest, TokenCanceledBeforeLaunchStopsTheProcessAtOnce) {
  cancel_.RequestCancel();
  RecordingOutput output;
  LaunchResult result = Launch(Shell("exec sleep 60"), output);
  EXPECT_TRUE(result.started);
  EXPECT_TRUE(result.canceled);
  EXPECT_FALSE(result.exited);
}

TEST_F(LauncherTest, CancelAfterTheRunEndedChangesNothing) {
  RecordingOutput output;
  LaunchResult result = Launch(Shell("exit 4"), output);
  cancel_.RequestCancel();
  EXPECT_TRUE(result.exited);
  EXPECT_EQ(result.exit_code, 4);
  EXPECT_FALSE(result.canceled);
}

// ------------------------------------------------------------------ escaped processes

// A process that leaves the group (setsid) and keeps the output pipe open must not keep
// LaunchAndWait from returning: it stops reading after a bounded drain (2 s).
TEST_F(LauncherTest, ProcessThatEscapedTheGroupDoesNotBlockTheReturn) {
  ScopedSubreaper subreaper;
  RecordingOutput output;
  // The main shell exits only once the child has left the group (it reports through a
  // fifo after setsid), so the launcher's final SIGKILL to the group cannot reach it.
  LaunchResult result = Launch(Shell("mkfifo escaped; "
                                     "setsid sh -c 'echo $$ > escaped; exec sleep 60' & "
                                     "read pid < escaped; echo child $pid; exit 0"),
                               output);
  EXPECT_TRUE(result.exited);
  EXPECT_EQ(result.exit_code, 0);
  const pid_t child = output.PidAfter("child");
  ASSERT_GT(child, 0) << output.text();
  ::kill(child, SIGKILL);  // the test's own cleanup: process groups cannot catch it
  EXPECT_TRUE(WaitForDeathAndReap(child));
}

// ------------------------------------------------------------------ the sandbox interface

// How the launcher uses the run's sandbox: a FakeSandbox in place of bubblewrap.
class LauncherSandboxTest : public LauncherTest {
 protected:
  // A run canceled once it is ready, in a tagged process-group containment (sparing one
  // process needs the run's tag: the group is then signalled one by one). Its shell
  // reports a SIGTERM it gets; its background sleep is TERMed either way.
  LaunchResult CanceledShellReportingTerm(FakeSandbox& sandbox, RecordingOutput& output) {
    const std::string tag = "launcher-test-" + std::to_string(::getpid());
    sandbox::ProcessGroupContainment containment(tag);
    std::future<void> ready = output.MarkerSeen();
    std::thread canceller([&] {
      ready.wait();
      cancel_.RequestCancel();
    });
    // "ready" comes from the background child itself, after it has dropped the shell's
    // trap (a subshell resets traps first): a TERM that came between the fork and that
    // reset would be swallowed by the inherited trap, and the sleep would live on.
    LaunchRequest request =
        Shell("trap 'echo got-term; exit 7' TERM; (echo ready; exec sleep 60) & wait");
    request.environment[sandbox::kRunTagVariable] = tag;
    request.containment = &containment;
    request.sandbox = &sandbox;
    LaunchResult result = Launch(request, output);
    canceller.join();
    return result;
  }
};

TEST_F(LauncherSandboxTest, PrepareErrorBecomesTheStartError) {
  FakeSandbox sandbox;
  sandbox.prepare_error = absl::FailedPreconditionError("the sandbox cannot be built here");
  RecordingOutput output;
  LaunchRequest request = Shell("echo should-not-run");
  request.sandbox = &sandbox;
  LaunchResult result = Launch(request, output);
  EXPECT_FALSE(result.started);
  EXPECT_EQ(result.start_error, "the sandbox cannot be built here");
  EXPECT_EQ(sandbox.calls().prepared, 1);
  EXPECT_EQ(sandbox.calls().spawned, 0);
  EXPECT_EQ(pgid_, -1) << "on_started must not be called for a process that never started";
  EXPECT_THAT(output.text(), IsEmpty());
}

TEST_F(LauncherSandboxTest, SpawnedIsCalledOnceAfterTheSpawn) {
  FakeSandbox sandbox;
  sandbox.opens_pipe = true;  // Spawned waits for the child's byte on it
  RecordingOutput output;
  LaunchRequest request = Shell("echo up >&3; exit 0");
  request.sandbox = &sandbox;
  int spawned_when_started = -1;
  LaunchResult result = LaunchAndWait(request, output.Callback(), cancel_, [&](pid_t) {
    spawned_when_started = sandbox.calls().spawned;
  });
  ASSERT_TRUE(result.exited) << result.start_error;
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(sandbox.calls().spawned, 1);
  EXPECT_TRUE(sandbox.calls().child_wrote_before_spawned)
      << "Spawned was called before the child ran (or without the inherited descriptor)";
  EXPECT_EQ(spawned_when_started, 1) << "on_started came before Spawned";
}

TEST_F(LauncherSandboxTest, CancelSparesTheProcessTheSandboxNames) {
  FakeSandbox sandbox;
  sandbox.spares_first_process = true;
  RecordingOutput output("ready\n");
  LaunchResult result = CanceledShellReportingTerm(sandbox, output);
  EXPECT_TRUE(result.canceled);
  EXPECT_EQ(sandbox.calls().first_process_asked, pgid_);
  EXPECT_THAT(output.text(), Not(HasSubstr("got-term"))) << "the spared process got SIGTERM";
  EXPECT_TRUE(result.exited) << "the shell ends by itself once its sleep is TERMed";
}

TEST_F(LauncherSandboxTest, CancelTermsTheFirstProcessWhenTheSandboxSparesNone) {
  FakeSandbox sandbox;
  RecordingOutput output("ready\n");
  LaunchResult result = CanceledShellReportingTerm(sandbox, output);
  EXPECT_TRUE(result.canceled);
  EXPECT_THAT(output.text(), HasSubstr("got-term"));
  EXPECT_EQ(result.exit_code, 7);
}

TEST_F(LauncherSandboxTest, SetupErrorBecomesTheSandboxError) {
  FakeSandbox sandbox;
  sandbox.setup_error = "the sandbox tool could not mount /work";
  RecordingOutput output;
  LaunchRequest request = Shell("echo from-the-tool; exit 1");
  request.sandbox = &sandbox;
  LaunchResult result = Launch(request, output);
  EXPECT_TRUE(result.started);
  EXPECT_EQ(result.sandbox_error, "the sandbox tool could not mount /work");
  EXPECT_EQ(sandbox.calls().output, "from-the-tool\n") << "SawOutput gets the piped output";
  ASSERT_EQ(sandbox.calls().ends.size(), 1u);
  EXPECT_TRUE(sandbox.calls().ends[0].exited);
  EXPECT_EQ(sandbox.calls().ends[0].exit_code, 1);
  EXPECT_FALSE(sandbox.calls().ends[0].killed);
}

TEST_F(LauncherSandboxTest, LaunchThroughASandboxLeavesNoDescriptorOpen) {
  FakeSandbox sandbox;
  sandbox.opens_pipe = true;
  RecordingOutput output;
  LaunchRequest request = Shell("echo up >&3; echo done");
  request.sandbox = &sandbox;
  const int before = OpenDescriptors();
  LaunchResult result = Launch(request, output);
  ASSERT_TRUE(result.exited) << result.start_error;
  EXPECT_TRUE(sandbox.calls().child_wrote_before_spawned);
  EXPECT_EQ(OpenDescriptors(), before);
}

}  // namespace
}  // namespace runyard::runtime
