// Tests for sandbox/containment.h: the choice of a mode from what the machine offers (a
// pure function, every case), and each mode this machine can give holding real processes:
// one that ignores SIGTERM and a grandchild that left the session by a double fork.
//
// No test sleeps for a guessed time: they wait for the workload's answers on a pipe, for a
// pidfd to become readable, or poll Empty() until a deadline.

#include "sandbox/containment.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ids.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandbox/containment_choice.h"
#include "sandbox/process_group.h"
#include "sandbox/process_group_containment.h"
#include "tests/unit/contained_workload.h"
#include "tests/unit/wait_for.h"

namespace runyard::sandbox {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

using ::runyard::testutil::ContainedWorkload;
using ::runyard::testutil::PollUntil;
using Preference = ContainmentFactory::Preference;

std::string PreferenceName(Preference preference) {
  switch (preference) {
    case Preference::kAuto: return "Auto";
    case Preference::kCgroupV2: return "CgroupV2";
    case Preference::kCgroupV1: return "CgroupV1";
    default: return "ProcessGroup";
  }
}

// ------------------------------------------------------------------ ChooseContainmentMode

//                                  v2 mounted, writable, controllers; v1 freezer
constexpr CgroupProbe kEverything{true, true, true, true};
constexpr CgroupProbe kV2Only{true, true, true, false};
constexpr CgroupProbe kV2WithoutControllers{true, true, false, true};
constexpr CgroupProbe kV2WithoutControllersNoV1{true, true, false, false};
constexpr CgroupProbe kV2ReadOnly{true, false, false, true};
constexpr CgroupProbe kV2ReadOnlyNoV1{true, false, false, false};
constexpr CgroupProbe kV1Only{false, false, false, true};
constexpr CgroupProbe kNothing{false, false, false, false};

struct ChoiceCase {
  std::string name;
  Preference preference;
  CgroupProbe probe;
  std::optional<ContainmentMode> mode;  // nullopt: unavailable
  std::string why;                      // a part of the reason; empty: no reason at all
};

std::vector<ChoiceCase> ChoiceCases() {
  constexpr auto kV2 = ContainmentMode::kCgroupV2;
  constexpr auto kV1 = ContainmentMode::kCgroupV1;
  constexpr auto kGroup = ContainmentMode::kProcessGroup;
  return {
      {"AutoTakesV2WithControllers", Preference::kAuto, kEverything, kV2, ""},
      {"AutoTakesV2WithControllersWithoutV1", Preference::kAuto, kV2Only, kV2, ""},
      {"AutoPrefersV1ToV2WithoutControllers", Preference::kAuto, kV2WithoutControllers, kV1,
       "cgroup v2 has no memory/pids controllers"},
      {"AutoTakesV1WhereV2IsReadOnly", Preference::kAuto, kV2ReadOnly, kV1, "cgroup v2 is not writable"},
      {"AutoTakesV1WithoutV2", Preference::kAuto, kV1Only, kV1, "no cgroup v2 mount"},
      {"AutoTakesV2WithoutControllersWhereNoV1", Preference::kAuto, kV2WithoutControllersNoV1, kV2,
       "no writable cgroup v1 freezer; memory/pids controllers not delegated: no limits, no accounting"},
      {"AutoFallsToProcessGroupWhereV2IsReadOnly", Preference::kAuto, kV2ReadOnlyNoV1, kGroup,
       "cgroup v2 is not writable here; no writable cgroup v1 freezer"},
      {"AutoFallsToProcessGroupWithoutCgroups", Preference::kAuto, kNothing, kGroup,
       "no cgroup v2 mount; no writable cgroup v1 freezer"},
      {"V2WithControllers", Preference::kCgroupV2, kEverything, kV2, ""},
      {"V2WithoutControllersSaysNoLimits", Preference::kCgroupV2, kV2WithoutControllersNoV1, kV2, "no limits"},
      {"V2EvenWhereV1WouldGiveLimits", Preference::kCgroupV2, kV2WithoutControllers, kV2, "no limits"},
      {"V2ReadOnlyIsAnError", Preference::kCgroupV2, kV2ReadOnly, std::nullopt, "cgroup v2 is not writable here"},
      {"V2MissingIsAnError", Preference::kCgroupV2, kV1Only, std::nullopt, "no cgroup v2 mount"},
      {"V1EvenWhereV2IsBetter", Preference::kCgroupV1, kEverything, kV1, "asked for"},
      {"V1Alone", Preference::kCgroupV1, kV1Only, kV1, "asked for"},
      {"V1MissingIsAnError", Preference::kCgroupV1, kV2Only, std::nullopt, "no writable cgroup v1 freezer"},
      {"V1WithoutAnyCgroupIsAnError", Preference::kCgroupV1, kNothing, std::nullopt, "no writable cgroup v1 freezer"},
      {"ProcessGroupEvenWithEverything", Preference::kProcessGroup, kEverything, kGroup, "asked for"},
      {"ProcessGroupWithNothing", Preference::kProcessGroup, kNothing, kGroup, "asked for"},
  };
}

class ChooseContainmentModeTest : public ::testing::TestWithParam<ChoiceCase> {};

TEST_P(ChooseContainmentModeTest, PicksTheModeAndSaysWhy) {
  const ChoiceCase& c = GetParam();
  const ModeChoice choice = ChooseContainmentMode(c.preference, c.probe);
  EXPECT_EQ(choice.mode, c.mode) << (choice.mode ? ModeName(*choice.mode) : "none");
  if (c.why.empty()) {
    EXPECT_THAT(choice.why, IsEmpty());
  } else {
    EXPECT_THAT(choice.why, HasSubstr(c.why));
  }
}

INSTANTIATE_TEST_SUITE_P(Table, ChooseContainmentModeTest, ::testing::ValuesIn(ChoiceCases()),
                         [](const ::testing::TestParamInfo<ChoiceCase>& info) { return info.param.name; });

// Every preference against all sixteen probes: the rules the table above illustrates.
TEST(ChooseContainmentModeTest, EveryPreferenceAndProbeFollowsTheFallbackRules) {
  for (int bits = 0; bits < 16; ++bits) {
    const CgroupProbe probe{(bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0, (bits & 8) != 0};
    const bool v2 = probe.v2_mounted && probe.v2_writable;
    const bool v2_full = v2 && probe.v2_controllers;
    const bool v1 = probe.v1_freezer_writable;
    for (Preference preference :
         {Preference::kAuto, Preference::kCgroupV2, Preference::kCgroupV1, Preference::kProcessGroup}) {
      SCOPED_TRACE(PreferenceName(preference) + " with probe bits " + std::to_string(bits));
      const ModeChoice choice = ChooseContainmentMode(preference, probe);
      // A mode is only chosen where the machine has it.
      EXPECT_TRUE(choice.mode != ContainmentMode::kCgroupV2 || v2);
      EXPECT_TRUE(choice.mode != ContainmentMode::kCgroupV1 || v1);
      switch (preference) {
        case Preference::kAuto:
          ASSERT_TRUE(choice.mode.has_value());
          // Nothing stronger was left unused, and anything but the strongest says why.
          EXPECT_TRUE(*choice.mode != ContainmentMode::kCgroupV1 || !v2_full);
          EXPECT_TRUE(*choice.mode != ContainmentMode::kCgroupV2 || v2_full || !v1);
          EXPECT_TRUE(*choice.mode != ContainmentMode::kProcessGroup || !(v2 || v1));
          EXPECT_EQ(choice.why.empty(), v2_full) << choice.why;
          break;
        case Preference::kCgroupV2:
          EXPECT_EQ(choice.mode.has_value(), v2);
          EXPECT_TRUE(choice.mode.value_or(ContainmentMode::kCgroupV2) == ContainmentMode::kCgroupV2);
          EXPECT_TRUE(choice.mode || !choice.why.empty());
          break;
        case Preference::kCgroupV1:
          EXPECT_EQ(choice.mode.has_value(), v1);
          EXPECT_TRUE(choice.mode.value_or(ContainmentMode::kCgroupV1) == ContainmentMode::kCgroupV1);
          EXPECT_TRUE(choice.mode || !choice.why.empty());
          break;
        case Preference::kProcessGroup:
          EXPECT_EQ(choice.mode, ContainmentMode::kProcessGroup);
          break;
      }
    }
  }
}

TEST(ContainmentFactoryTest, ProcessGroupIsAlwaysAvailable) {
  absl::StatusOr<std::unique_ptr<ContainmentFactory>> factory = ContainmentFactory::Create(Preference::kProcessGroup);
  ASSERT_TRUE(factory.ok()) << factory.status();
  EXPECT_EQ((*factory)->mode(), ContainmentMode::kProcessGroup);
}

TEST(ContainmentFactoryTest, AutoAlwaysFindsAMode) {
  absl::StatusOr<std::unique_ptr<ContainmentFactory>> factory = ContainmentFactory::Create(Preference::kAuto);
  ASSERT_TRUE(factory.ok()) << factory.status();
}

// A group member whose environment shows no tag (as for a moment during an exec) is still
// signalled when another member is spared: the group is read from /proc/*/stat too.
TEST(ProcessGroupContainmentTest, SparingOneStillReachesAnUntaggedGroupMember) {
  const pid_t leader = ::fork();
  if (leader == 0) {
    ::setsid();
    sandbox::ResetSignalsForExec();
    char* const argv[] = {const_cast<char*>("/bin/sleep"), const_cast<char*>("60"), nullptr};
    char* const no_environment[] = {nullptr};
    ::execve(argv[0], argv, no_environment);
    ::_exit(127);
  }
  ASSERT_GT(leader, 0);
  ASSERT_TRUE(PollUntil([&] { return ::getpgid(leader) == leader; }, ContainedWorkload::kPatience));
  EXPECT_THAT(FindGroupMembers(leader), Contains(leader));

  ProcessGroupContainment containment("containment-test-untagged-" + common::RandomHex(4));
  containment.Started(leader);
  containment.SignalAll(SIGTERM, /*spared=*/leader + 1000000);  // spares someone else
  int status = 0;
  ASSERT_EQ(::waitpid(leader, &status, 0), leader);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << "the untagged member was not TERMed";
}

// ------------------------------------------------------------------ each mode, real processes

// Polls until the containment has no process left (Empty() reads cgroup.procs or /proc,
// which nothing signals); false after the deadline.
bool BecomesEmpty(Containment& containment) {
  return PollUntil([&] { return containment.Empty(); }, ContainedWorkload::kPatience);
}

std::vector<pid_t> ListedIn(const fs::path& procs) {
  std::vector<pid_t> pids;
  std::ifstream in(procs);
  for (pid_t pid; in >> pid;) pids.push_back(pid);
  return pids;
}

class ContainmentModeTest : public ::testing::TestWithParam<Preference> {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ContainmentFactory>> factory = ContainmentFactory::Create(GetParam());
    if (!factory.ok()) {
      ASSERT_NE(GetParam(), Preference::kProcessGroup) << factory.status();
      GTEST_SKIP() << "this machine gives no " << PreferenceName(GetParam()) << ": " << factory.status().message();
    }
    factory_ = std::move(*factory);
    run_id_ = "containment-test-" + common::RandomHex(4);
    tag_ = run_id_ + "-" + common::RandomHex(6);
    absl::StatusOr<std::unique_ptr<Containment>> containment = factory_->ForRun(run_id_, tag_);
    ASSERT_TRUE(containment.ok()) << containment.status();
    containment_ = std::move(*containment);
    dirs_ = containment_->CgroupDirectories();
  }

  bool IsCgroup() const { return GetParam() != Preference::kProcessGroup; }

  std::unique_ptr<ContainmentFactory> factory_;
  std::string run_id_;
  std::string tag_;
  std::unique_ptr<Containment> containment_;
  std::vector<fs::path> dirs_;
};

TEST_P(ContainmentModeTest, HasItsCgroupDirectoriesNamedByTheRun) {
  if (!IsCgroup()) {
    EXPECT_THAT(dirs_, IsEmpty());
    return;
  }
  ASSERT_THAT(dirs_, Not(IsEmpty()));
  for (const fs::path& dir : dirs_) {
    EXPECT_TRUE(fs::is_directory(dir)) << dir;
    EXPECT_EQ(dir.filename(), run_id_);
  }
  if (GetParam() == Preference::kCgroupV1) {
    EXPECT_TRUE(fs::exists(dirs_.front() / "freezer.state")) << "the freezer comes first";
  }
}

TEST_P(ContainmentModeTest, KillAllReachesWhatIgnoresTermAndLeftTheSession) {
  {
    ContainedWorkload workload(*containment_, tag_, ContainedWorkload::OnTerm::kIgnore);
    ASSERT_TRUE(workload.Ready());
    EXPECT_NE(::getsid(workload.grandchild()), workload.leader()) << "the grandchild did not leave the session";
    if (IsCgroup()) {
      EXPECT_THAT(ListedIn(dirs_.front() / "cgroup.procs"), Contains(workload.grandchild()));
    }
    EXPECT_FALSE(containment_->Empty());

    containment_->SignalAll(SIGTERM);
    EXPECT_TRUE(workload.Answers(workload.leader())) << "SIGTERM is ignored: the leader lives on";
    EXPECT_TRUE(workload.Answers(workload.grandchild())) << "SIGTERM is ignored: the grandchild lives on";

    containment_->KillAll();
    EXPECT_TRUE(workload.Gone(workload.leader()));
    EXPECT_TRUE(workload.Gone(workload.grandchild()));
  }
  EXPECT_TRUE(BecomesEmpty(*containment_));
  containment_.reset();
  for (const fs::path& dir : dirs_) EXPECT_FALSE(fs::exists(dir)) << dir << " outlived the containment";
}

TEST_P(ContainmentModeTest, SignalAllSparesTheSparedProcessOnly) {
  {
    ContainedWorkload workload(*containment_, tag_, ContainedWorkload::OnTerm::kDie);
    ASSERT_TRUE(workload.Ready());

    containment_->SignalAll(SIGTERM, workload.leader());
    EXPECT_TRUE(workload.Gone(workload.grandchild())) << "the grandchild was not spared: SIGTERM kills it";
    EXPECT_TRUE(workload.Answers(workload.leader())) << "the spared leader lives on";
    EXPECT_FALSE(containment_->Empty());

    containment_->SignalAll(SIGTERM);  // now it is not spared
    EXPECT_TRUE(workload.Gone(workload.leader()));
  }
  EXPECT_TRUE(BecomesEmpty(*containment_));
  containment_.reset();
  for (const fs::path& dir : dirs_) EXPECT_FALSE(fs::exists(dir)) << dir << " outlived the containment";
}

INSTANTIATE_TEST_SUITE_P(EachMode, ContainmentModeTest,
                         ::testing::Values(Preference::kCgroupV2, Preference::kCgroupV1, Preference::kProcessGroup),
                         [](const ::testing::TestParamInfo<Preference>& info) { return PreferenceName(info.param); });

}  // namespace
}  // namespace runyard::sandbox
