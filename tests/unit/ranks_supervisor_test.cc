// Tests for runyard-ranks (runtime/ranks_supervisor.h): the real binary of the build tree
// supervising real /bin/sh processes: logs, the started and result files, one fate (the
// first failure stops the rest, SIGKILL after the grace), signals passed on, start
// failures, and nothing of a rank left once the supervisor is gone.

#include "runtime/ranks_supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/ranks_binary.h"
#include "tests/unit/scoped_temp_dir.h"
#include "common/read_file.h"
#include "tests/unit/wait_for.h"

extern char** environ;

namespace runyard::runtime {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr auto kPatience = std::chrono::seconds(30);  // only reached when something is broken

class RanksSupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    binary_ = FindRanksBinaryOfThisProcess();
    ASSERT_FALSE(binary_.empty()) << "build/runtime/runyard-ranks is not built";
    plan_.result_file = tmp_.path() / "result.json";
    plan_.started_file = tmp_.path() / "started";
  }

  // A rank running `script` with /bin/sh, its log at <tmp>/rank<N>.log.
  void AddRank(int rank, const std::string& script) {
    SupervisedProcess process;
    process.label = "rank " + std::to_string(rank);
    process.rank = rank;
    process.node_rank = rank / 2;
    process.local_rank = rank % 2;
    process.argv = {"/bin/sh", "-c", script};
    process.environment = {{"RANK", std::to_string(rank)}};
    process.log_file = LogOf(rank);
    process.working_dir = tmp_.path();
    plan_.processes.push_back(process);
  }
  fs::path LogOf(int rank) const { return tmp_.path() / ("rank" + std::to_string(rank) + ".log"); }

  // Starts runyard-ranks on the plan, its stdout in <tmp>/supervisor.log.
  pid_t Start(std::chrono::milliseconds grace = std::chrono::seconds(10)) {
    const fs::path plan_file = tmp_.path() / "plan.json";
    std::ofstream(plan_file) << SupervisorPlanJson(plan_);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, (tmp_.path() / "supervisor.log").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const std::string grace_ms = std::to_string(grace.count());
    std::vector<std::string> args = {binary_.string(), "--kill-grace-ms", grace_ms, plan_file.string()};
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    EXPECT_EQ(::posix_spawn(&pid, binary_.c_str(), &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    return pid;
  }

  // The supervisor's exit code, once it exited within the patience (-1 otherwise).
  int Wait(pid_t pid) {
    if (!testutil::ExitsWithin(pid, kPatience)) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      ADD_FAILURE() << "runyard-ranks did not exit";
      return -1;
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  SupervisorResult Result() {
    absl::StatusOr<SupervisorResult> result = ReadSupervisorResult(plan_.result_file);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.value_or(SupervisorResult{});
  }
  std::string Events() { return common::ReadFileOrEmpty(tmp_.path() / "supervisor.log"); }

  bool WaitForFile(const fs::path& file) {
    return testutil::PollUntil([&] { return fs::exists(file); }, kPatience);
  }

  testutil::ScopedTempDir tmp_;
  fs::path binary_;
  SupervisorPlan plan_;
};

TEST_F(RanksSupervisorTest, EveryRankRunsWithItsEnvironmentAndLogAndTheResultSaysSo) {
  for (int rank = 0; rank < 3; ++rank) AddRank(rank, "echo \"rank $RANK in $(pwd)\"; echo err >&2");
  EXPECT_EQ(Wait(Start()), 0);
  for (int rank = 0; rank < 3; ++rank) {
    EXPECT_EQ(common::ReadFileOrEmpty(LogOf(rank)),
              "rank " + std::to_string(rank) + " in " + tmp_.path().string() + "\nerr\n");
  }
  EXPECT_TRUE(fs::exists(plan_.started_file));
  const SupervisorResult result = Result();
  EXPECT_EQ(result.first_failed, -1);
  EXPECT_EQ(result.exit_code, 0);
  ASSERT_THAT(result.processes, SizeIs(3));
  for (const SupervisedResult& rank : result.processes) {
    EXPECT_TRUE(rank.started);
    EXPECT_TRUE(rank.exited);
    EXPECT_EQ(rank.exit_code, 0);
    EXPECT_GT(rank.ended_unix_ms, 0);
  }
  EXPECT_EQ(result.processes[2].node_rank, 1);
  EXPECT_EQ(result.processes[2].local_rank, 0);
  EXPECT_THAT(Events(), HasSubstr("started 3 ranks"));
}

TEST_F(RanksSupervisorTest, TheFirstFailureStopsTheOtherRanksAndIsTheExitCode) {
  for (int rank = 0; rank < 3; ++rank) AddRank(rank, "exec sleep 1000");
  // Rank 3 fails once the others run (the supervisor created the started file).
  AddRank(3, "while [ ! -e " + plan_.started_file.string() + " ]; do sleep 0.01; done; exit 3");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Wait(Start()), 3);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  const SupervisorResult result = Result();
  ASSERT_EQ(result.first_failed, 3);
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_TRUE(result.processes[3].exited);
  EXPECT_EQ(result.processes[3].exit_code, 3);
  for (int rank = 0; rank < 3; ++rank) {
    EXPECT_FALSE(result.processes[rank].exited) << rank;
    EXPECT_EQ(result.processes[rank].term_signal, SIGTERM) << rank;
    EXPECT_GE(result.processes[rank].ended_unix_ms, result.processes[3].ended_unix_ms);
  }
  EXPECT_THAT(Events(), HasSubstr("rank 3 exited with code 3; stopping the other 3 ranks"));
}

TEST_F(RanksSupervisorTest, ARankThatIgnoresSigtermIsKilledAfterTheGrace) {
  AddRank(0, "trap '' TERM; echo $$ > " + (tmp_.path() / "pid0").string() +
                 "; while :; do sleep 0.05; done");
  AddRank(1, "while [ ! -e " + (tmp_.path() / "pid0").string() + " ]; do sleep 0.01; done; exit 1");
  EXPECT_EQ(Wait(Start(std::chrono::milliseconds(300))), 1);
  const SupervisorResult result = Result();
  EXPECT_EQ(result.first_failed, 1);
  EXPECT_EQ(result.processes[0].term_signal, SIGKILL);
  EXPECT_THAT(Events(), HasSubstr("grace period over: SIGKILL to the 1 rank left"));
}

TEST_F(RanksSupervisorTest, SigtermToTheSupervisorIsPassedOnToEveryRank) {
  for (int rank = 0; rank < 2; ++rank) {
    AddRank(rank, "trap 'echo got TERM; exit 0' TERM; touch ready_$RANK; while :; do sleep 0.05; done");
  }
  const pid_t supervisor = Start();
  ASSERT_TRUE(WaitForFile(tmp_.path() / "ready_0"));  // their traps are set
  ASSERT_TRUE(WaitForFile(tmp_.path() / "ready_1"));
  ::kill(supervisor, SIGTERM);
  EXPECT_EQ(Wait(supervisor), 0);  // they exited 0 when told to stop
  const SupervisorResult result = Result();
  EXPECT_TRUE(result.stopped_from_outside);
  for (int rank = 0; rank < 2; ++rank) EXPECT_THAT(common::ReadFileOrEmpty(LogOf(rank)), HasSubstr("got TERM"));
  EXPECT_THAT(Events(), HasSubstr("received SIGTERM: passing it on to the 2 ranks running"));
}

TEST_F(RanksSupervisorTest, ARankThatCannotStartFailsTheRestWith127) {
  AddRank(0, "exec sleep 1000");
  AddRank(1, "");
  plan_.processes[1].argv = {(tmp_.path() / "no-such-program").string()};
  EXPECT_EQ(Wait(Start()), 127);
  const SupervisorResult result = Result();
  EXPECT_EQ(result.first_failed, 1);
  EXPECT_FALSE(result.processes[1].started);
  EXPECT_THAT(result.processes[1].start_error, HasSubstr("cannot execute"));
  EXPECT_THAT(result.processes[1].start_error, HasSubstr("No such file"));
  EXPECT_EQ(result.processes[0].term_signal, SIGTERM);
  EXPECT_FALSE(fs::exists(plan_.started_file));
  EXPECT_THAT(Events(), HasSubstr("rank 1 could not be started"));
}

TEST_F(RanksSupervisorTest, SuccessfulReturnCodesCount) {
  plan_.successful_return_codes = {0, 7};
  AddRank(0, "exit 7");
  AddRank(1, "exit 0");
  EXPECT_EQ(Wait(Start()), 0);
  EXPECT_EQ(Result().first_failed, -1);
}

TEST_F(RanksSupervisorTest, WhatARankLeftBehindDiesWithTheSupervisor) {
  const fs::path child_pid = tmp_.path() / "child";
  AddRank(0, "sleep 1000 & echo $! > " + child_pid.string() + "; exit 0");
  EXPECT_EQ(Wait(Start()), 0);
  const pid_t leftover = std::stoi(common::ReadFileOrEmpty(child_pid));
  EXPECT_TRUE(testutil::PollUntil([&] { return testutil::NotRunning(leftover); }, kPatience));
}

TEST_F(RanksSupervisorTest, RanksDieWhenTheSupervisorIsKilled) {
  for (int rank = 0; rank < 2; ++rank) {
    AddRank(rank, "echo $$ > " + (tmp_.path() / ("pid" + std::to_string(rank))).string() +
                      "; exec sleep 1000");
  }
  const pid_t supervisor = Start();
  ASSERT_TRUE(WaitForFile(plan_.started_file));
  ASSERT_TRUE(WaitForFile(tmp_.path() / "pid1"));
  ASSERT_TRUE(WaitForFile(tmp_.path() / "pid0"));
  ::kill(supervisor, SIGKILL);
  EXPECT_EQ(Wait(supervisor), 128 + SIGKILL);
  for (int rank = 0; rank < 2; ++rank) {
    const std::string text = common::ReadFileOrEmpty(tmp_.path() / ("pid" + std::to_string(rank)));
    ASSERT_FALSE(text.empty());
    const pid_t pid = std::stoi(text);
    EXPECT_TRUE(testutil::PollUntil([&] { return testutil::NotRunning(pid); }, kPatience)) << "rank " << rank;
  }
}

TEST(RanksSupervisorFilesTest, PlanAndResultRoundTrip) {
  SupervisorPlan plan;
  SupervisedProcess process;
  process.rank = 5;
  process.node_rank = 2;
  process.local_rank = 1;
  process.argv = {"/usr/bin/python3", "train.py", "--lr", "0.1"};
  process.environment = {{"RANK", "5"}, {"TF_CONFIG", "{\"a\": [1]}"}};
  process.log_file = "/x/std_log_process_5.txt";
  process.working_dir = "/x/wd";
  plan.processes.push_back(process);
  plan.successful_return_codes = {0, 3};
  plan.result_file = "/x/result.json";
  absl::StatusOr<SupervisorPlan> parsed = ParseSupervisorPlan(SupervisorPlanJson(plan));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_THAT(parsed->processes, SizeIs(1));
  EXPECT_EQ(parsed->processes[0].label, "rank 5");  // the default label
  EXPECT_EQ(parsed->processes[0].argv, process.argv);
  EXPECT_EQ(parsed->processes[0].environment, process.environment);
  EXPECT_EQ(parsed->processes[0].log_file, process.log_file);
  EXPECT_EQ(parsed->successful_return_codes, plan.successful_return_codes);
  EXPECT_EQ(parsed->result_file, plan.result_file);

  SupervisorResult result;
  SupervisedResult rank;
  rank.rank = 5;
  rank.started = true;
  rank.term_signal = 9;
  rank.ended_unix_ms = 1234567890123;
  result.processes.push_back(rank);
  result.first_failed = 0;
  result.exit_code = 137;
  absl::StatusOr<SupervisorResult> back = ParseSupervisorResult(SupervisorResultJson(result));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->first_failed, 0);
  EXPECT_EQ(back->exit_code, 137);
  EXPECT_EQ(back->processes[0].term_signal, 9);
  EXPECT_EQ(back->processes[0].ended_unix_ms, 1234567890123);
}

TEST(RanksSupervisorFilesTest, BadPlansAreRefusedWithAReason) {
  EXPECT_THAT(std::string(ParseSupervisorPlan("{").status().message()), HasSubstr("not a runyard-ranks plan"));
  EXPECT_THAT(std::string(ParseSupervisorPlan(R"({"processes": []})").status().message()),
              HasSubstr("no process"));
  EXPECT_THAT(std::string(ParseSupervisorPlan(R"({"processes": [{"argv": []}]})").status().message()),
              HasSubstr("empty argv"));
}

TEST(RanksBinaryTest, FoundNextToTheProgramInstalledOrInTheBuildTree) {
  testutil::ScopedTempDir tmp;
  auto make_executable = [](const fs::path& file) {
    fs::create_directories(file.parent_path());
    std::ofstream(file) << "#!/bin/sh\n";
    fs::permissions(file, fs::perms::owner_all);
  };
  const fs::path prefix = tmp.path() / "usr";
  EXPECT_EQ(FindRanksBinary(prefix / "bin" / "runyard-agent"), fs::path());
  make_executable(prefix / "runtime" / "runyard-ranks");  // the build tree
  EXPECT_EQ(FindRanksBinary(prefix / "agent" / "runyard-agent"), prefix / "runtime" / "runyard-ranks");
  make_executable(prefix / "lib" / "runyard" / "runyard-ranks");
  EXPECT_EQ(FindRanksBinary(prefix / "bin" / "runyard"), prefix / "lib" / "runyard" / "runyard-ranks");
  make_executable(prefix / "lib" / "runyard-agent" / "runyard-ranks");  // the agent's own copy
  EXPECT_EQ(FindRanksBinary(prefix / "bin" / "runyard-agent"),
            prefix / "lib" / "runyard-agent" / "runyard-ranks");
}

}  // namespace
}  // namespace runyard::runtime
