// Tests for sandbox/child_reaper.h and common/owned_children.h: orphans that come to a
// child subreaper are reaped, and a child someone waits for by its pid never is.

#include "sandbox/child_reaper.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "common/owned_children.h"
#include "gtest/gtest.h"
#include "tests/unit/wait_for.h"

namespace runyard::sandbox {
namespace {

using ::runyard::testutil::ExitsWithin;
using ::runyard::testutil::PollUntil;

// The test process is the subreaper only within a test.
class ChildReaperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(BecomeChildSubreaper());
    // Zombies an earlier test left to this process (one that made it a subreaper and
    // orphaned processes) are not this test's to count.
    ReapOrphans();
  }
  void TearDown() override { ::prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0); }

  static bool IsZombieChild(pid_t pid) {
    const std::vector<pid_t> zombies = ZombieChildren();
    return std::find(zombies.begin(), zombies.end(), pid) != zombies.end();
  }

  static constexpr std::chrono::seconds kPatience{10};

  // Forks a child that forks a grandchild and exits; the grandchild (now an orphan, ours
  // as subreaper) writes its pid and exits too. Returns the grandchild's pid.
  static pid_t MakeOrphanThatExits() {
    int fds[2];
    if (::pipe(fds) != 0) return -1;
    common::OwnedChild owned;
    const pid_t child = ::fork();
    if (child == 0) {
      if (::fork() == 0) {
        const pid_t self = ::getpid();
        (void)!::write(fds[1], &self, sizeof(self));
        ::_exit(0);
      }
      ::_exit(0);
    }
    owned.Own(child);
    ::close(fds[1]);
    pid_t grandchild = -1;
    (void)!::read(fds[0], &grandchild, sizeof(grandchild));
    ::close(fds[0]);
    ::waitpid(child, nullptr, 0);
    return grandchild;
  }
};

TEST_F(ChildReaperTest, OrphanComesToTheSubreaperAndIsReaped) {
  const pid_t orphan = MakeOrphanThatExits();
  ASSERT_GT(orphan, 0);
  ASSERT_TRUE(ExitsWithin(orphan, kPatience));
  ASSERT_TRUE(IsZombieChild(orphan)) << "the orphan did not come to this subreaper";
  EXPECT_EQ(ReapOrphans(), 1);
  EXPECT_FALSE(IsZombieChild(orphan));
  EXPECT_EQ(::waitpid(orphan, nullptr, WNOHANG), -1);  // already reaped
}

TEST_F(ChildReaperTest, OwnedChildIsLeftToItsOwner) {
  common::OwnedChild owned;
  const pid_t child = ::fork();
  if (child == 0) ::_exit(42);
  owned.Own(child);
  ASSERT_TRUE(ExitsWithin(child, kPatience));
  ASSERT_TRUE(IsZombieChild(child));
  EXPECT_EQ(ReapOrphans(), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_EQ(WEXITSTATUS(status), 42);
}

TEST_F(ChildReaperTest, NothingIsReapedWhileASpawnsPidIsUnknown) {
  const pid_t orphan = MakeOrphanThatExits();
  ASSERT_TRUE(ExitsWithin(orphan, kPatience));
  ASSERT_TRUE(IsZombieChild(orphan));
  {
    common::OwnedChild spawning;  // forked, pid not told yet: any zombie might be it
    EXPECT_EQ(ReapOrphans(), 0);
    EXPECT_TRUE(IsZombieChild(orphan));
  }
  EXPECT_EQ(ReapOrphans(), 1);
}

TEST_F(ChildReaperTest, BackgroundReaperReapsOrphansOnItsOwn) {
  OrphanReaper reaper(std::chrono::milliseconds(20));
  const pid_t orphan = MakeOrphanThatExits();
  ASSERT_GT(orphan, 0);
  // The reaper signals nothing when it reaps: its count is polled.
  EXPECT_TRUE(PollUntil([&] { return reaper.reaped() >= 1; }, kPatience));
  EXPECT_FALSE(IsZombieChild(orphan));  // counted after its waitpid()
}

TEST(ZombieChildrenTest, NoneWhenNothingExited) {
  EXPECT_TRUE(ZombieChildren().empty());
}

}  // namespace
}  // namespace runyard::sandbox
