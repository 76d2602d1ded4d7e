// Tests for ControlPlane::Watch (server/run_watch.cc), the one loop behind remote and local
// `runyard logs -f` / `runyard run`: the run on every status change, its log bytes after
// it in chunks of at most 1 MiB, the end once the run ended and every byte was sent.
// The run moves on from inside `emit`, so every step is an event: nothing waits on time.

#include <string>
#include <vector>

#include "tests/unit/control_plane_fixture.h"

namespace runyard::server {
namespace {

using test_support::ControlPlaneTest;
using ::testing::ElementsAre;

constexpr char kLog[] = "user_logs/std_log.txt";

// What a watcher saw, one line per event: "run <status>" or "log <offset> <bytes>".
struct Recorded {
  std::vector<std::string> events;
  std::string log;
};

class ControlPlaneWatchTest : public ControlPlaneTest {
 protected:
  void AppendLog(const runyard::v1::Lease& lease, int64_t offset, const std::string& data) {
    runyard::v1::AppendRequest request;
    *request.mutable_lease() = lease;
    request.set_path(kLog);
    request.set_offset(offset);
    request.set_data(data);
    ASSERT_TRUE(Plane().Append(request).ok());
  }

  // Watches `run_id`; `step(events so far)` runs after each event, to move the run on.
  absl::StatusOr<runyard::v1::Run> Watch(
      const std::string& run_id, int64_t offset, Recorded& seen,
      const std::function<void(size_t)>& step = [](size_t) {}) {
    return Plane().Watch(run_id, offset, [&](const runyard::v1::WatchEvent& event) {
      if (event.has_run()) {
        seen.events.push_back("run " + runyard::v1::RunStatus_Name(event.run().status()));
      } else {
        seen.events.push_back("log " + std::to_string(event.log_offset()) + " " +
                              (event.log_bytes().size() <= 64
                                   ? event.log_bytes()
                                   : std::to_string(event.log_bytes().size()) + " bytes"));
        seen.log += event.log_bytes();
      }
      step(seen.events.size());
      return true;
    });
  }
};

TEST_F(ControlPlaneWatchTest, FollowsARunStatusFirstThenItsLogUntilItEnds) {
  runyard::v1::Lease lease = RunningRun();
  AppendLog(lease, 0, "epoch 1\n");
  Recorded seen;
  absl::StatusOr<runyard::v1::Run> run = Watch(lease.run_id(), 0, seen, [&](size_t events) {
    if (events == 2) {  // the first log bytes arrived: the run writes more and ends
      AppendLog(lease, 8, "epoch 2\n");
      ASSERT_TRUE(Report(lease, runyard::v1::COMPLETED).ok());
    }
  });
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->status(), runyard::v1::COMPLETED);
  EXPECT_THAT(seen.events,
              ElementsAre("run RUNNING", "log 0 epoch 1\n", "run COMPLETED", "log 8 epoch 2\n"));
}

TEST_F(ControlPlaneWatchTest, SendsEveryStatusChange) {
  runyard::v1::Lease lease = AssignedRun();
  Recorded seen;
  absl::StatusOr<runyard::v1::Run> run = Watch(lease.run_id(), 0, seen, [&](size_t events) {
    const runyard::v1::RunStatus next[] = {runyard::v1::PREPARING, runyard::v1::RUNNING,
                                           runyard::v1::COMPLETED};
    if (events <= 3) ASSERT_TRUE(Report(lease, next[events - 1]).ok());
  });
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_THAT(seen.events,
              ElementsAre("run QUEUED", "run PREPARING", "run RUNNING", "run COMPLETED"));
}

TEST_F(ControlPlaneWatchTest, SplitsALongLogIntoChunksOfAtMostOneMebibyteAndSendsEveryByte) {
  runyard::v1::Lease lease = RunningRun();
  std::string log;
  for (int i = 0; log.size() < (5u << 19); ++i)
    log += "line " + std::to_string(i) + "\n";  // ~2.5 MiB
  AppendLog(lease, 0, log);
  ASSERT_TRUE(Report(lease, runyard::v1::COMPLETED).ok());
  Recorded seen;
  ASSERT_TRUE(Watch(lease.run_id(), 0, seen).ok());
  const std::string rest = std::to_string(log.size() - (2u << 20));
  EXPECT_THAT(seen.events,
              ElementsAre("run COMPLETED", "log 0 1048576 bytes", "log 1048576 1048576 bytes",
                          "log 2097152 " + rest + " bytes"));
  EXPECT_EQ(seen.log, log);
}

TEST_F(ControlPlaneWatchTest, StartsAtTheGivenLogOffset) {
  runyard::v1::Lease lease = RunningRun();
  AppendLog(lease, 0, "abcdef");
  ASSERT_TRUE(Report(lease, runyard::v1::COMPLETED).ok());
  Recorded seen;
  ASSERT_TRUE(Watch(lease.run_id(), 3, seen).ok());
  EXPECT_THAT(seen.events, ElementsAre("run COMPLETED", "log 3 def"));
}

TEST_F(ControlPlaneWatchTest, ARunThatNeverPrintedEndsWithItsStatusOnly) {
  runyard::v1::Lease lease = RunningRun();
  ASSERT_TRUE(Report(lease, runyard::v1::FAILED).ok());
  Recorded seen;
  absl::StatusOr<runyard::v1::Run> run = Watch(lease.run_id(), 0, seen);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->status(), runyard::v1::FAILED);
  EXPECT_THAT(seen.events, ElementsAre("run FAILED"));
}

TEST_F(ControlPlaneWatchTest, EmitReturningFalseEndsTheWatch) {
  runyard::v1::Lease lease = RunningRun();
  AppendLog(lease, 0, "never sent");
  int events = 0;
  absl::StatusOr<runyard::v1::Run> run = Plane().Watch(
      lease.run_id(), 0, [&](const runyard::v1::WatchEvent&) { return ++events < 1; });
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(events, 1);
  EXPECT_EQ(run->status(), runyard::v1::RUNNING);
}

TEST_F(ControlPlaneWatchTest, ACancelledWatchEnds) {
  runyard::v1::Lease lease = RunningRun();
  bool cancelled = false;
  int events = 0;
  absl::StatusOr<runyard::v1::Run> run = Plane().Watch(
      lease.run_id(), 0,
      [&](const runyard::v1::WatchEvent&) {
        ++events;
        cancelled = true;          // the watcher went away...
        AppendLog(lease, 0, "x");  // ...and a change wakes the watch at once
        return true;
      },
      [&] { return cancelled; });
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->status(), runyard::v1::RUNNING);
  EXPECT_LE(events, 2);  // the run, and perhaps the byte read in the same round
}

TEST_F(ControlPlaneWatchTest, WatchOfAnUnknownRunIsNotFound) {
  Recorded seen;
  EXPECT_EQ(Watch("run_nope", 0, seen).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(seen.events.empty());
}

// Local mode: no reaper watches a run held by a runyard process; a watch (or a read) that
// finds its holder gone ends it, and the watch ends with it.
TEST_F(ControlPlaneWatchTest, AWatchEndsARunWhoseLocalHolderIsGone) {
  ControlPlaneOptions options = DefaultOptions();
  options.lost_holder = [](const runyard::v1::Run& run) -> std::optional<std::string> {
    if (run.agent_id() == "local:dead") return "its process exited";
    return std::nullopt;
  };
  Plane(options);
  const std::string run_id = SubmitRun();
  absl::StatusOr<runyard::v1::Lease> lease = Plane().LeaseToSelf(run_id, "local:dead");
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ(StatusOf(run_id), runyard::v1::QUEUED) << "a queued run has no holder to lose";
  ASSERT_TRUE(Report(*lease, runyard::v1::RUNNING).ok());

  Recorded seen;
  absl::StatusOr<runyard::v1::Run> run = Watch(run_id, 0, seen);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->status(), runyard::v1::FAILED);
  EXPECT_EQ(run->error().code(), "AgentLost");
  EXPECT_EQ(run->error().message(), "its process exited");
  EXPECT_THAT(seen.events, ElementsAre("run FAILED"));
}

}  // namespace
}  // namespace runyard::server
