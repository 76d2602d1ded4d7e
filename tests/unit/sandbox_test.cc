// Tests for sandbox/host_sandbox.h and sandbox/sandbox_factory.h: what the host "sandbox"
// hands the launcher (the command untouched), and which class a run gets. The bubblewrap
// class has its own tests in bubblewrap_test.cc.

#include <signal.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandbox/bubblewrap_sandbox.h"
#include "sandbox/host_sandbox.h"
#include "sandbox/sandbox_factory.h"

namespace runyard::sandbox {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

const Command kCommand{"/usr/bin/python3", {"train.py", "--lr", "1"}, "/work/runs/r1/wd"};

TEST(HostSandboxTest, ExecsTheCommandAsItIs) {
  absl::StatusOr<std::unique_ptr<SandboxedLaunch>> launch = HostSandbox().Prepare(kCommand);
  ASSERT_TRUE(launch.ok()) << launch.status();
  EXPECT_EQ((*launch)->exec().executable, "/usr/bin/python3");
  EXPECT_THAT((*launch)->exec().arguments, ElementsAre("train.py", "--lr", "1"));
  EXPECT_EQ((*launch)->exec().inherit_fd, -1);
}

TEST(HostSandboxTest, SparesNothingAndNeverFailsASetup) {
  absl::StatusOr<std::unique_ptr<SandboxedLaunch>> launch = HostSandbox().Prepare(kCommand);
  ASSERT_TRUE(launch.ok()) << launch.status();
  (*launch)->Spawned();
  (*launch)->SawOutput("bwrap: a script may print this\n");
  EXPECT_EQ((*launch)->SparedFromTerm(4242), 0);
  EXPECT_THAT((*launch)->SetupError({.exited = true, .exit_code = 1}, ""), IsEmpty());
  EXPECT_THAT((*launch)->SetupError({.term_signal = SIGKILL}, ""), IsEmpty());
}

TEST(HostSandboxTest, SaysNothingAndLeavesTmpToTheLauncher) {
  HostSandbox host;
  EXPECT_EQ(host.name(), "host");
  EXPECT_THAT(host.Description(), IsEmpty());
  EXPECT_FALSE(host.GivesPrivateTmp());
}

TEST(SandboxForRunTest, WithoutAPolicyTheRunIsOnTheHost) {
  std::unique_ptr<Sandbox> sandbox = SandboxForRun(std::nullopt, {{"/work/runs/r1/wd"}, {}});
  EXPECT_EQ(sandbox->name(), "host");
}

TEST(SandboxForRunTest, WithAPolicyTheRunsFoldersAreAddedToIt) {
  BubblewrapPolicy policy;
  policy.bwrap = "/usr/bin/bwrap";
  policy.hidden = {"/work"};
  policy.writable = {"/scratch"};
  std::unique_ptr<Sandbox> sandbox = SandboxForRun(
      policy, {{"/work/runs/r1/wd", "/work/runs/r1/home"}, {"/work/envs/store/abc/env"}});
  ASSERT_EQ(sandbox->name(), "bubblewrap");
  const BubblewrapPolicy& used = dynamic_cast<const BubblewrapSandbox&>(*sandbox).policy();
  EXPECT_EQ(used.bwrap, "/usr/bin/bwrap");
  EXPECT_THAT(used.hidden, ElementsAre("/work"));
  EXPECT_THAT(used.writable, ElementsAre("/scratch", "/work/runs/r1/wd", "/work/runs/r1/home"));
  EXPECT_THAT(used.readable, ElementsAre("/work/envs/store/abc/env"));
}

}  // namespace
}  // namespace runyard::sandbox
