#pragma once

// The fixture of the distributed-run tests of server/control_plane.h (issue 16): agents
// that register with an address, a gang submitted and handed out, node reports under each
// node's lease, as the agent loop would make them.

#include <memory>
#include <string>
#include <vector>

#include "server/gang_rules.h"
#include "tests/unit/control_plane_fixture.h"

namespace runyard::server::gang_testing {

using runyard::v1::RunStatus;
using test_support::BackgroundPoll;
using test_support::ControlPlaneTest;

class GangTest : public ControlPlaneTest {
 protected:
  runyard::v1::RunSpec GangSpec(int nodes, int processes) const {
    runyard::v1::RunSpec spec = Spec();
    auto* pytorch = spec.mutable_distributed_job_config()->mutable_pytorch();
    pytorch->set_node_count(nodes);
    pytorch->set_process_count(processes);
    return spec;
  }

  std::string SubmitGang(int nodes = 2) {
    absl::StatusOr<runyard::v1::Run> run = Plane().Submit(GangSpec(nodes, nodes * 2));
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? run->run_id() : "";
  }

  std::string RegisterNode(const std::string& name, const std::string& address = "") {
    runyard::v1::RegisterRequest request;
    request.set_name(name);
    request.set_pool("cpu");
    request.set_slots(1);
    request.set_hostname("host-" + name);
    request.set_address(address);
    absl::StatusOr<runyard::v1::RegisterResponse> response = Plane().Register(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->agent_id() : "";
  }

  // Polls of `agents`, each waiting before the next starts, the last one inline: what each
  // was answered, in the order of `agents`.
  std::vector<runyard::v1::PollResponse> PollTogether(const std::vector<std::string>& agents) {
    std::vector<std::unique_ptr<BackgroundPoll>> waiting;
    for (size_t i = 0; i + 1 < agents.size(); ++i) {
      waiting.push_back(std::make_unique<BackgroundPoll>(&Plane(), PollRequest(agents[i], 1, 5000)));
      waiting.back()->WaitUntilWaiting();
    }
    absl::StatusOr<runyard::v1::PollResponse> last = Poll(agents.back(), 1, 5000);
    std::vector<runyard::v1::PollResponse> answers;
    for (auto& poll : waiting) {
      absl::StatusOr<runyard::v1::PollResponse> answer = poll->Join();
      EXPECT_TRUE(answer.ok()) << answer.status();
      answers.push_back(answer.ok() ? *answer : runyard::v1::PollResponse());
    }
    EXPECT_TRUE(last.ok()) << last.status();
    answers.push_back(last.ok() ? *last : runyard::v1::PollResponse());
    return answers;
  }

  // The node leases of a gang handed to `agents` (by node rank).
  std::vector<runyard::v1::Lease> HandOut(const std::vector<std::string>& agents) {
    std::vector<runyard::v1::Lease> leases(agents.size());
    for (const runyard::v1::PollResponse& answer : PollTogether(agents)) {
      if (answer.assignments_size() != 1 || !answer.assignments(0).has_gang()) {
        ADD_FAILURE() << "a node got no gang assignment: " << answer.DebugString();
        continue;
      }
      const runyard::v1::Assignment& assignment = answer.assignments(0);
      leases.at(assignment.gang().node_rank()) = assignment.lease();
    }
    return leases;
  }

  absl::StatusOr<runyard::v1::UpdateStatusResponse> Ended(
      const runyard::v1::Lease& lease, RunStatus status, const std::string& error_code = "",
      const std::string& message = "", std::vector<runyard::v1::RankResult> ranks = {}) {
    runyard::v1::UpdateStatusRequest request;
    *request.mutable_lease() = lease;
    request.set_status(status);
    request.mutable_error()->set_code(error_code);
    request.mutable_error()->set_message(message);
    for (const auto& rank : ranks) {
      *request.add_ranks() = rank;
      if (RankFailed(rank) && rank.exited() && !request.has_exit_code()) {
        request.set_has_exit_code(true);
        request.set_exit_code(rank.exit_code());
      }
    }
    return Plane().UpdateStatus(request);
  }

  static runyard::v1::RankResult Rank(int rank, int node_rank, int exit_code, int signal,
                                      int64_t ended_ms) {
    runyard::v1::RankResult result;
    result.set_rank(rank);
    result.set_node_rank(node_rank);
    result.set_started(true);
    result.set_exited(signal == 0);
    result.set_exit_code(exit_code);
    result.set_term_signal(signal);
    result.set_ended_unix_ms(ended_ms);
    return result;
  }

  void AllRunning(const std::vector<runyard::v1::Lease>& leases) {
    for (const auto& lease : leases) ASSERT_TRUE(Report(lease, runyard::v1::RUNNING).ok());
  }

  runyard::v1::Run GetRun(const std::string& run_id) {
    absl::StatusOr<runyard::v1::Run> run = Plane().Get(run_id);
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? *run : runyard::v1::Run();
  }
};

}  // namespace runyard::server::gang_testing
