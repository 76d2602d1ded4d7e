// Tests for common/helper_command.h: the one supervised way runyard runs a helper command
// (output, exit code, timeout of a whole process group, output bound, NotFound, working
// folder, environment), with real /bin/sh commands.

#include "common/helper_command.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::common {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

HelperCommand Shell(const std::string& script,
                    std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  HelperCommand command;
  command.argv = {"sh", "-c", script};
  command.timeout = timeout;
  return command;
}

// Waits (on the process's pidfd, an event) until process `pid` has ended; false if it is
// still alive after `limit`.
bool EndsWithin(pid_t pid, std::chrono::milliseconds limit) {
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return errno == ESRCH;  // already gone
  pollfd ended{fd, POLLIN, 0};
  const bool readable = ::poll(&ended, 1, static_cast<int>(limit.count())) == 1;
  ::close(fd);
  return readable;
}

TEST(HelperCommandTest, CapturesStdout) {
  HelperCommand command;
  command.argv = {"echo", "hello", "world"};
  absl::StatusOr<HelperCommandResult> ran = RunHelperCommand(command);
  ASSERT_TRUE(ran.ok()) << ran.status();
  EXPECT_TRUE(ran->ok());
  EXPECT_FALSE(ran->timed_out);
  EXPECT_EQ(ran->exit_code, 0);
  EXPECT_EQ(ran->output, "hello world\n");
  EXPECT_EQ(ran->errors, "");
}

TEST(HelperCommandTest, StderrIsSeparateAndTheExitCodeKept) {
  absl::StatusOr<HelperCommandResult> ran =
      RunHelperCommand(Shell("echo out; echo err >&2; exit 3"));
  ASSERT_TRUE(ran.ok()) << ran.status();
  EXPECT_FALSE(ran->ok());
  EXPECT_FALSE(ran->timed_out);
  EXPECT_EQ(ran->exit_code, 3);
  EXPECT_EQ(ran->output, "out\n");
  EXPECT_EQ(ran->errors, "err\n");
}

TEST(HelperCommandTest, MergedStderrGoesToOutputInOrder) {
  HelperCommand command = Shell("echo one; echo two >&2; echo three");
  command.merge_stderr = true;
  absl::StatusOr<HelperCommandResult> ran = RunHelperCommand(command);
  ASSERT_TRUE(ran.ok()) << ran.status();
  EXPECT_EQ(ran->output, "one\ntwo\nthree\n");
  EXPECT_EQ(ran->errors, "");
}

TEST(HelperCommandTest, KilledBySignalHasNoExitCode) {
  absl::StatusOr<HelperCommandResult> ran = RunHelperCommand(Shell("kill -KILL $$"));
  ASSERT_TRUE(ran.ok()) << ran.status();
  EXPECT_FALSE(ran->timed_out);
  EXPECT_EQ(ran->exit_code, -1);
  EXPECT_FALSE(ran->ok());
}

TEST(HelperCommandTest, StdinIsDevNull) {
  HelperCommand command;
  command.argv = {"cat"};
  absl::StatusOr<HelperCommandResult> ran = RunHelperCommand(command);
  ASSERT_TRUE(ran.ok()) << ran.status();
  EXPECT_TRUE(ran->ok());
  EXPECT_EQ(ran->output, "");
}

TEST(HelperCommandTest, RunsInItsOwnProcessGroup) {
  // Field 5 of /proc/PID/stat is the process group; sh's comm has no space.
  absl::StatusOr<HelperCommandResult> ran =
      RunHelperCommand(Shell("echo $$; cut -d' ' -f5 /proc/$$/stat"));
  ASSERT_TRUE(ran.ok()) << ran.status();
  const std::vector<std::string> lines = absl::StrSplit(ran->output, '\n', absl::SkipEmpty());
  ASSERT_THAT(lines, SizeIs(2)) << ran->output;
  EXPECT_EQ(lines[0], lines[1]);
  EXPECT_NE(lines[1], std::to_string(::getpgrp()));
}

TEST(HelperCommandTest, SignalsTheCallerBlocksAreNotBlockedInTheCommand) {
  // The agent blocks SIGTERM in its threads (it waits for it with sigwait).
  sigset_t term, saved;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &term, &saved), 0);
  absl::StatusOr<HelperCommandResult> ran =
      RunHelperCommand(Shell("kill -TERM $$; echo not killed"));
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  ASSERT_TRUE(ran.ok()) << ran.status();
  EXPECT_EQ(ran->exit_code, -1);
  EXPECT_EQ(ran->output, "");
}

TEST(HelperCommandTest, CommandIgnoringSigtermWithAGrandchildHoldingThePipeIsKilledAtItsTimeout) {
  // The shell ignores SIGTERM, and its child (sleep) keeps the output pipe open: only
  // killing the whole group ends both; the call returns at the timeout, not after 60 s.
  const auto started = std::chrono::steady_clock::now();
  absl::StatusOr<HelperCommandResult> ran = RunHelperCommand(
      Shell("trap '' TERM; sleep 60 & echo $!; wait", std::chrono::milliseconds(300)));
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(ran.ok()) << ran.status();
  EXPECT_TRUE(ran->timed_out);
  EXPECT_EQ(ran->exit_code, -1);
  EXPECT_FALSE(ran->ok());
  EXPECT_GE(took, std::chrono::milliseconds(300));
  EXPECT_LT(took, std::chrono::seconds(10));
  pid_t grandchild = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(ran->output), &grandchild))
      << ran->output;
  EXPECT_TRUE(EndsWithin(grandchild, std::chrono::seconds(10)))
      << "sleep " << grandchild << " outlived its group";
}

TEST(HelperCommandTest, WhatTheCommandLeftRunningInItsGroupDoesNotHoldTheCall) {
  // The shell exits at once; its background sleep still holds the output pipe.
  const auto started = std::chrono::steady_clock::now();
  absl::StatusOr<HelperCommandResult> ran =
      RunHelperCommand(Shell("sleep 60 & echo $!", std::chrono::seconds(60)));
  ASSERT_TRUE(ran.ok()) << ran.status();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30));
  EXPECT_TRUE(ran->ok());
  EXPECT_FALSE(ran->timed_out);
  pid_t left = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(ran->output), &left)) << ran->output;
  EXPECT_TRUE(EndsWithin(left, std::chrono::seconds(10)));
}

TEST(HelperCommandTest, OutputPastTheBoundIsReadAndDropped) {
  // 1 MB on each stream, far more than a pipe holds: the command still ends normally.
  HelperCommand command =
      Shell("head -c 1000000 /dev/zero; head -c 1000000 /dev/zero >&2; echo done >&2");
  command.max_output_bytes = 1000;
  absl::StatusOr<HelperCommandResult> ran = RunHelperCommand(command);
  ASSERT_TRUE(ran.ok()) << ran.status();
  EXPECT_TRUE(ran->ok());
  EXPECT_EQ(ran->output.size(), 1000u);
  EXPECT_EQ(ran->errors.size(), 1000u);
}

TEST(HelperCommandTest, MissingProgramIsNotFound) {
  HelperCommand command;
  command.argv = {"runyard-no-such-program"};
  absl::StatusOr<HelperCommandResult> ran = RunHelperCommand(command);
  EXPECT_EQ(ran.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(ran.status().message(), HasSubstr("runyard-no-such-program"));
}

TEST(HelperCommandTest, FileThatIsNotExecutableIsNotFound) {
  testutil::ScopedTempDir dir;
  std::ofstream(dir.path() / "script") << "#!/bin/sh\necho hi\n";
  HelperCommand command;
  command.argv = {(dir.path() / "script").string()};
  EXPECT_EQ(RunHelperCommand(command).status().code(), absl::StatusCode::kNotFound);
}

TEST(HelperCommandTest, EmptyCommandIsInvalid) {
  EXPECT_EQ(RunHelperCommand(HelperCommand{}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(HelperCommandTest, RunsInTheWorkingDirectory) {
  testutil::ScopedTempDir dir;
  HelperCommand command;
  command.argv = {"pwd"};
  command.working_directory = dir.path();
  absl::StatusOr<HelperCommandResult> ran = RunHelperCommand(command);
  ASSERT_TRUE(ran.ok()) << ran.status();
  EXPECT_EQ(ran->output, dir.path().string() + "\n");
}

TEST(HelperCommandTest, MissingWorkingDirectoryIsFailedPrecondition) {
  testutil::ScopedTempDir dir;
  HelperCommand command;
  command.argv = {"pwd"};
  command.working_directory = dir.path() / "missing";
  EXPECT_EQ(RunHelperCommand(command).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(HelperCommandTest, EnvironmentIsTheCallersWithTheExtraVariablesOnTop) {
  ::setenv("RUNYARD_HELPER_TEST_INHERITED", "inherited", 1);
  ::setenv("RUNYARD_HELPER_TEST_REPLACED", "old", 1);
  HelperCommand command = Shell(
      "echo "
      "\"$RUNYARD_HELPER_TEST_INHERITED|$RUNYARD_HELPER_TEST_REPLACED|$RUNYARD_HELPER_TEST_"
      "ADDED\"");
  command.environment = {{"RUNYARD_HELPER_TEST_REPLACED", "new"},
                         {"RUNYARD_HELPER_TEST_ADDED", "a b"}};
  absl::StatusOr<HelperCommandResult> ran = RunHelperCommand(command);
  ::unsetenv("RUNYARD_HELPER_TEST_INHERITED");
  ::unsetenv("RUNYARD_HELPER_TEST_REPLACED");
  ASSERT_TRUE(ran.ok()) << ran.status();
  EXPECT_EQ(ran->output, "inherited|new|a b\n");
}

}  // namespace
}  // namespace runyard::common
