// Tests for sandbox/run_journal.h: what an agent records of its runs, and how its next
// start cleans up after it was killed: real leftovers in each mode this machine can give
// (a process and a double-forked grandchild in the run's containment), and corrupt or
// forged entries, which are dropped without touching what they name.

#include "sandbox/run_journal.h"

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ids.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sandbox/containment.h"
#include "tests/unit/contained_workload.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::sandbox {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

using ::runyard::testutil::ContainedWorkload;
using ::runyard::testutil::ScopedTempDir;
using Preference = ContainmentFactory::Preference;
using Leftover = RunJournal::Leftover;

std::vector<std::string> FilesIn(const fs::path& dir) {
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename());
  return names;
}

void WriteFile(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary);
  out << text;
}

std::string ReadFile(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string NewRunId() { return "journal-test-" + common::RandomHex(4); }

// A process-group containment: needs no privilege and no cgroup.
std::unique_ptr<Containment> ProcessGroupRun(const std::string& run_id, const std::string& tag) {
  absl::StatusOr<std::unique_ptr<ContainmentFactory>> factory = ContainmentFactory::Create(Preference::kProcessGroup);
  EXPECT_TRUE(factory.ok()) << factory.status();
  absl::StatusOr<std::unique_ptr<Containment>> containment = (*factory)->ForRun(run_id, tag);
  EXPECT_TRUE(containment.ok()) << containment.status();
  return std::move(*containment);
}

// ------------------------------------------------------------------ record and forget

TEST(RunJournalTest, CreatesItsFolder) {
  ScopedTempDir temp;
  RunJournal journal(temp.path() / "state" / "runs");
  EXPECT_TRUE(fs::is_directory(temp.path() / "state" / "runs"));
}

TEST(RunJournalTest, RecordWritesOneFileWithModeAndTagAndNoTemporaryOne) {
  ScopedTempDir temp;
  RunJournal journal(temp.path());
  const std::string run_id = NewRunId();
  std::unique_ptr<Containment> containment = ProcessGroupRun(run_id, run_id + "-tag");
  ASSERT_TRUE(journal.Record(run_id, *containment, run_id + "-tag").ok());
  EXPECT_THAT(FilesIn(temp.path()), ElementsAre(run_id));
  const std::string text = ReadFile(temp.path() / run_id);
  EXPECT_THAT(text, HasSubstr("mode process group\n"));
  EXPECT_THAT(text, HasSubstr("tag " + run_id + "-tag\n"));
}

TEST(RunJournalTest, ForgottenRunLeavesNothingToCleanUp) {
  ScopedTempDir temp;
  RunJournal journal(temp.path());
  const std::string run_id = NewRunId();
  std::unique_ptr<Containment> containment = ProcessGroupRun(run_id, run_id + "-tag");
  ASSERT_TRUE(journal.Record(run_id, *containment, run_id + "-tag").ok());
  journal.Forget(run_id);
  EXPECT_THAT(FilesIn(temp.path()), IsEmpty());
  EXPECT_THAT(RunJournal(temp.path()).CleanUpLeftovers(), IsEmpty());
}

TEST(RunJournalTest, RecordedRunIsCleanedUpOnceThenForgotten) {
  ScopedTempDir temp;
  const std::string run_id = NewRunId();
  std::unique_ptr<Containment> containment = ProcessGroupRun(run_id, run_id + "-tag");
  ASSERT_TRUE(RunJournal(temp.path()).Record(run_id, *containment, run_id + "-tag").ok());

  // The next start: a journal of its own over the same folder. Nothing carries the tag.
  RunJournal next(temp.path());
  const std::vector<Leftover> cleaned = next.CleanUpLeftovers();
  ASSERT_EQ(cleaned.size(), 1u);
  EXPECT_EQ(cleaned[0].run_id, run_id);
  EXPECT_EQ(cleaned[0].processes_killed, 0);
  EXPECT_TRUE(cleaned[0].cgroups_removed);
  EXPECT_THAT(FilesIn(temp.path()), IsEmpty());
  EXPECT_THAT(next.CleanUpLeftovers(), IsEmpty());
}

TEST(RunJournalTest, RecordRefusesRunIdsUnfitForAFileName) {
  ScopedTempDir temp;
  RunJournal journal(temp.path() / "runs");
  std::unique_ptr<Containment> containment = ProcessGroupRun("any", "any-tag");
  for (const std::string run_id : {"", "../escaped", "a/b", ".hidden", "two\nlines"}) {
    EXPECT_FALSE(journal.Record(run_id, *containment, "any-tag").ok()) << "run id \"" << run_id << "\"";
  }
  EXPECT_THAT(FilesIn(temp.path() / "runs"), IsEmpty());
  EXPECT_FALSE(fs::exists(temp.path() / "escaped"));
}

TEST(RunJournalTest, RecordRefusesATagThatWouldBreakTheEntry) {
  ScopedTempDir temp;
  RunJournal journal(temp.path());
  std::unique_ptr<Containment> containment = ProcessGroupRun("run-a", "tag");
  EXPECT_FALSE(journal.Record("run-a", *containment, "tag\ncgroup /etc").ok());
  EXPECT_THAT(FilesIn(temp.path()), IsEmpty());
}

TEST(RunJournalTest, TemporaryFileOfACutShortRecordIsRemoved) {
  ScopedTempDir temp;
  WriteFile(temp.path() / ".run-a.tmp", "mode process group\ntag run-a-tag\n");
  EXPECT_THAT(RunJournal(temp.path()).CleanUpLeftovers(), IsEmpty());
  EXPECT_THAT(FilesIn(temp.path()), IsEmpty());
}

// ------------------------------------------------------------------ corrupt and forged entries

struct HostileEntry {
  std::string name;
  std::string run_id;
  std::string text;  // "<temp>" stands for the test's temp folder
};

std::vector<HostileEntry> HostileEntries() {
  return {
      {"Garbage", "run-a", std::string("\x7f\x45\x4c\x46\x00\xff\xfe garbage", 15)},
      {"Empty", "run-a", ""},
      {"NoMode", "run-a", "tag run-a-tag\n"},
      {"UnknownMode", "run-a", "mode jail\ntag run-a-tag\n"},
      {"UnknownLine", "run-a", "mode process group\ntag run-a-tag\nrm -rf /\n"},
      {"TwoModes", "run-a", "mode process group\nmode cgroup v2\ntag run-a-tag\n"},
      {"ProcessGroupWithoutTag", "run-a", "mode process group\ntag \n"},
      {"ProcessGroupWithACgroup", "run-a", "mode process group\ntag t\ncgroup <temp>/runyard/run-a\n"},
      {"V2WithoutCgroup", "run-a", "mode cgroup v2\ntag t\n"},
      {"V2WithTwoCgroups", "run-a",
       "mode cgroup v2\ntag t\ncgroup <temp>/runyard/run-a\ncgroup <temp>/runyard/run-a\n"},
      {"Etc", "etc", "mode cgroup v2\ntag t\ncgroup /etc\n"},
      {"EtcOnV1", "etc", "mode cgroup v1\ntag t\ncgroup /etc\n"},
      {"FolderOutsideCgroupfs", "run-a", "mode cgroup v2\ntag t\ncgroup <temp>/runyard/run-a\n"},
      {"FolderOutsideCgroupfsOnV1", "run-a", "mode cgroup v1\ntag t\ncgroup <temp>/runyard/run-a\n"},
      {"DotDot", "run-a", "mode cgroup v2\ntag t\ncgroup <temp>/runyard/../runyard/run-a\n"},
      {"Relative", "run-a", "mode cgroup v2\ntag t\ncgroup runyard/run-a\n"},
      {"NotNamedByTheRun", "run-a", "mode cgroup v2\ntag t\ncgroup <temp>/runyard/run-b\n"},
      {"NotInARunyardFolder", "run-a", "mode cgroup v2\ntag t\ncgroup <temp>/other/run-a\n"},
      {"ThroughALink", "run-a", "mode cgroup v2\ntag t\ncgroup <temp>/link/runyard/run-a\n"},
  };
}

class HostileEntryTest : public ::testing::TestWithParam<HostileEntry> {};

TEST_P(HostileEntryTest, IsDroppedWithoutTouchingWhatItNames) {
  ScopedTempDir temp;
  // Folders an entry may name, each holding a file that must survive.
  const fs::path journal_dir = temp.path() / "journal";
  fs::create_directories(journal_dir);
  for (const char* dir : {"runyard/run-a", "runyard/run-b", "other/run-a"}) {
    fs::create_directories(temp.path() / dir);
    WriteFile(temp.path() / dir / "cgroup.procs", "1\n");
  }
  fs::create_directory_symlink(temp.path(), temp.path() / "link");

  std::string text = GetParam().text;
  for (size_t at; (at = text.find("<temp>")) != std::string::npos;) text.replace(at, 6, temp.path().string());
  WriteFile(journal_dir / GetParam().run_id, text);

  EXPECT_THAT(RunJournal(journal_dir).CleanUpLeftovers(), IsEmpty());
  EXPECT_THAT(FilesIn(journal_dir), IsEmpty()) << "the entry was not dropped";
  for (const char* dir : {"runyard/run-a", "runyard/run-b", "other/run-a"}) {
    EXPECT_EQ(ReadFile(temp.path() / dir / "cgroup.procs"), "1\n") << dir << " was touched";
  }
  EXPECT_TRUE(fs::is_directory("/etc"));
}

INSTANTIATE_TEST_SUITE_P(Corpus, HostileEntryTest, ::testing::ValuesIn(HostileEntries()),
                         [](const ::testing::TestParamInfo<HostileEntry>& info) { return info.param.name; });

TEST(RunJournalTest, OversizedEntryIsDropped) {
  ScopedTempDir temp;
  WriteFile(temp.path() / "run-a", "mode process group\ntag " + std::string(100 * 1024, 'x') + "\n");
  EXPECT_THAT(RunJournal(temp.path()).CleanUpLeftovers(), IsEmpty());
  EXPECT_THAT(FilesIn(temp.path()), IsEmpty());
}

// A forged entry naming another run's real cgroup: that run's processes and cgroup stay.
TEST(RunJournalTest, EntryNamingAnotherRunsCgroupLeavesThatRunAlone) {
  absl::StatusOr<std::unique_ptr<ContainmentFactory>> factory = ContainmentFactory::Create(Preference::kAuto);
  ASSERT_TRUE(factory.ok()) << factory.status();
  if ((*factory)->mode() == ContainmentMode::kProcessGroup) GTEST_SKIP() << "no cgroup on this machine";
  const std::string victim_id = NewRunId();
  absl::StatusOr<std::unique_ptr<Containment>> victim = (*factory)->ForRun(victim_id, victim_id + "-tag");
  ASSERT_TRUE(victim.ok()) << victim.status();
  const fs::path victim_dir = (*victim)->CgroupDirectories().front();

  ContainedWorkload workload(**victim, victim_id + "-tag", ContainedWorkload::OnTerm::kDie);
  ASSERT_TRUE(workload.Ready());
  ScopedTempDir temp;
  WriteFile(temp.path() / "run-thief", "mode " + ModeName((*victim)->mode()) + "\ntag t\ncgroup " +
                                           victim_dir.string() + "\n");
  EXPECT_THAT(RunJournal(temp.path()).CleanUpLeftovers(), IsEmpty());
  EXPECT_THAT(FilesIn(temp.path()), IsEmpty());
  EXPECT_TRUE(fs::is_directory(victim_dir));
  EXPECT_TRUE(workload.Answers(workload.leader()));
  EXPECT_TRUE(workload.Answers(workload.grandchild()));

  (*victim)->KillAll();
  EXPECT_TRUE(workload.Gone(workload.leader()));
  EXPECT_TRUE(workload.Gone(workload.grandchild()));
}

// ------------------------------------------------------------------ real leftovers, each mode

std::string PreferenceName(Preference preference) {
  switch (preference) {
    case Preference::kCgroupV2: return "CgroupV2";
    case Preference::kCgroupV1: return "CgroupV1";
    default: return "ProcessGroup";
  }
}

class LeftoverTest : public ::testing::TestWithParam<Preference> {};

// The agent was killed while a run went on: its containment never cleaned up. The next
// start's journal kills the run's processes, the double-forked grandchild too, and removes
// its cgroups.
TEST_P(LeftoverTest, NextStartKillsTheRunAndRemovesItsCgroups) {
  absl::StatusOr<std::unique_ptr<ContainmentFactory>> factory = ContainmentFactory::Create(GetParam());
  if (!factory.ok()) {
    ASSERT_NE(GetParam(), Preference::kProcessGroup) << factory.status();
    GTEST_SKIP() << "this machine gives no " << PreferenceName(GetParam()) << ": " << factory.status().message();
  }
  const std::string run_id = NewRunId();
  const std::string tag = run_id + "-" + common::RandomHex(6);
  absl::StatusOr<std::unique_ptr<Containment>> made = (*factory)->ForRun(run_id, tag);
  ASSERT_TRUE(made.ok()) << made.status();
  // Kept alive past the clean-up, so its destructor cannot be what cleaned up.
  std::unique_ptr<Containment> lost = std::move(*made);
  const std::vector<fs::path> dirs = lost->CgroupDirectories();

  ScopedTempDir temp;
  ASSERT_TRUE(RunJournal(temp.path()).Record(run_id, *lost, tag).ok());
  ContainedWorkload workload(*lost, tag, ContainedWorkload::OnTerm::kIgnore);
  ASSERT_TRUE(workload.Ready());

  const std::vector<Leftover> cleaned = RunJournal(temp.path()).CleanUpLeftovers();
  ASSERT_EQ(cleaned.size(), 1u);
  EXPECT_EQ(cleaned[0].run_id, run_id);
  EXPECT_EQ(cleaned[0].processes_killed, 2) << "the leader and the grandchild";
  EXPECT_TRUE(cleaned[0].cgroups_removed);
  for (const fs::path& dir : dirs) EXPECT_FALSE(fs::exists(dir)) << dir;
  EXPECT_TRUE(workload.Gone(workload.leader()));
  EXPECT_TRUE(workload.Gone(workload.grandchild()));
  EXPECT_THAT(FilesIn(temp.path()), IsEmpty()) << "the run is forgotten";
}

INSTANTIATE_TEST_SUITE_P(EachMode, LeftoverTest,
                         ::testing::Values(Preference::kCgroupV2, Preference::kCgroupV1, Preference::kProcessGroup),
                         [](const ::testing::TestParamInfo<Preference>& info) { return PreferenceName(info.param); });

}  // namespace
}  // namespace runyard::sandbox
