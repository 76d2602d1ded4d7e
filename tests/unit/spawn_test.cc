// Tests for runtime/spawn.h: the child gets exactly the stdio, folder, environment,
// session, signals and descriptors asked for, a failure before exec names its step, and
// what the child does to itself never reaches the parent that shares its memory.

#include "runtime/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::runtime {
namespace {

namespace fs = std::filesystem;
using ::runyard::testutil::ScopedTempDir;
using ::testing::HasSubstr;
using ::testing::Not;

class SpawnTest : public ::testing::Test {
 protected:
  // Runs `script` under /bin/sh with its output in a file; returns the exit status and
  // leaves the output in output().
  int RunShell(const std::string& script, SpawnRequest request = {}) {
    const int fd = ::open(output_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    EXPECT_GE(fd, 0);
    request.executable = "/bin/sh";
    request.arguments = {"-c", script};
    if (request.working_dir.empty()) request.working_dir = dir_.path();
    request.output_fd = fd;
    absl::StatusOr<pid_t> pid = Spawn(request);
    ::close(fd);
    EXPECT_TRUE(pid.ok()) << pid.status();
    if (!pid.ok()) return -1;
    int status = 0;
    EXPECT_EQ(::waitpid(*pid, &status, 0), *pid);
    spawned_pid_ = *pid;
    return status;
  }
  fs::path output_path() const { return dir_.path() / "out.txt"; }
  std::string output() const {
    std::ifstream in(output_path());
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  ScopedTempDir dir_;
  pid_t spawned_pid_ = -1;
};

TEST_F(SpawnTest, StdoutAndStderrGoToTheOutputAndStdinIsEmpty) {
  const int status = RunShell("echo out; echo err >&2; cat; echo done");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(output(), "out\nerr\ndone\n");
}

TEST_F(SpawnTest, ExitCodeWorkingDirAndExactEnvironment) {
  SpawnRequest request;
  request.environment = {"ONLY=this", "PATH=/usr/bin:/bin"};
  fs::create_directory(dir_.path() / "wd");
  request.working_dir = dir_.path() / "wd";
  const int status = RunShell("pwd; env | sort; exit 7", request);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 7);
  EXPECT_THAT(output(), HasSubstr((dir_.path() / "wd").string() + "\n"));
  EXPECT_THAT(output(), HasSubstr("ONLY=this\n"));
  EXPECT_THAT(output(), Not(HasSubstr("HOME=")));
}

TEST_F(SpawnTest, TheChildLeadsANewSessionWithDefaultSignals) {
  // The parent blocks and ignores signals, as the agent does; the child must not inherit that.
  sigset_t blocked, previous;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &blocked, &previous);
  struct sigaction ignore {
  }, old_pipe{};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, &old_pipe);
  // The masks are read by what the shell execs last (same pid, the mask it started with):
  // dash 0.5.12 blocks every signal while it waits for a command, so reading the shell's
  // own /proc/$$/status from a child it waits for saw dash's mask, not the spawn's.
  const int status =
      RunShell("cut -d' ' -f1,5,6 /proc/$$/stat; exec grep -E '^Sig(Blk|Ign)' /proc/self/status");
  ::sigaction(SIGPIPE, &old_pipe, nullptr);
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output();
  std::istringstream lines(output());
  pid_t pid = 0, pgid = 0, sid = 0;
  lines >> pid >> pgid >> sid;
  EXPECT_EQ(pid, spawned_pid_);
  EXPECT_EQ(pgid, spawned_pid_);
  EXPECT_EQ(sid, spawned_pid_);
  EXPECT_THAT(output(), HasSubstr("SigBlk:\t0000000000000000"));
  // sh ignores nothing by itself in a non-interactive shell with no traps.
  EXPECT_THAT(output(), HasSubstr("SigIgn:\t0000000000000000"));
}

TEST_F(SpawnTest, OnlyStdioAndTheInheritedDescriptorReachTheChild) {
  int status_pipe[2];
  ASSERT_EQ(::pipe2(status_pipe, O_CLOEXEC), 0);
  const int stray = ::open("/dev/null", O_RDONLY);  // not close-on-exec: must still be closed
  SpawnRequest request;
  request.inherit_fd = status_pipe[1];
  request.inherit_as = 3;
  // ls lists its own descriptors (what the spawn gave the shell, plus the one it opens to
  // list them): a pipeline's member listing the shell's would race with the pipes the
  // shell opens for the next member.
  const int status = RunShell("echo via-3 >&3; exec ls /proc/self/fd", request);
  ::close(stray);
  ::close(status_pipe[1]);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output();
  char got[16] = {};
  EXPECT_GT(::read(status_pipe[0], got, sizeof(got) - 1), 0);
  ::close(status_pipe[0]);
  EXPECT_STREQ(got, "via-3\n");
  // 0-2 and 3, plus the descriptor ls itself opens to list them.
  EXPECT_THAT(output(), ::testing::StartsWith("0\n1\n2\n3\n"));
  EXPECT_THAT(output(), Not(HasSubstr("\n" + std::to_string(stray) + "\n")));
}

TEST_F(SpawnTest, FailureBeforeExecNamesTheStepAndReapsTheChild) {
  SpawnRequest request;
  request.executable = dir_.path() / "no-such-program";
  request.working_dir = dir_.path();
  request.output_fd = STDERR_FILENO;
  absl::StatusOr<pid_t> pid = Spawn(request);
  ASSERT_FALSE(pid.ok());
  EXPECT_THAT(pid.status().message(), HasSubstr("exec: No such file or directory"));

  request.executable = "/bin/true";
  request.working_dir = dir_.path() / "missing-folder";
  pid = Spawn(request);
  ASSERT_FALSE(pid.ok());
  EXPECT_THAT(pid.status().message(), HasSubstr("chdir to the working directory"));

  request.working_dir = dir_.path();
  request.child_setup = [] { return EPERM; };
  pid = Spawn(request);
  ASSERT_FALSE(pid.ok());
  EXPECT_THAT(pid.status().message(), HasSubstr("setup: Operation not permitted"));
  // Every failed child was reaped: none is left to wait for.
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST_F(SpawnTest, WhatTheChildChangesStaysInTheChild) {
  // The child shares the parent's memory until exec, but not its descriptors, folder,
  // signal handlers or credentials.
  const fs::path before = fs::current_path();
  SpawnRequest request;
  request.child_setup = [] {
    ::close(STDOUT_FILENO + 100);  // harmless
    return ::setpgid(0, 0) == 0 || errno == EPERM ? 0 : errno;
  };
  const int status = RunShell("exit 0", request);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(fs::current_path(), before);
  EXPECT_NE(::getsid(0), spawned_pid_);
  EXPECT_GE(::fcntl(STDOUT_FILENO, F_GETFD), 0);
}

}  // namespace
}  // namespace runyard::runtime
