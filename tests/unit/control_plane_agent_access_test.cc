// Tests for the access part of server/control_plane.h (issue 17) that concern agents and
// runs: a join token exchanged for an agent token at registration, registering again with
// it, what CheckRegister / CheckAgent / CheckLeaseHolder refuse, revoking an agent, run
// tokens in assignments and their expiry, and secret variables kept out of every read.

#include <set>

#include "common/access_token.h"
#include "common/run_error_code.h"
#include "tests/unit/access_test_fixture.h"

namespace runyard::server::access_testing {
namespace {

using ::testing::HasSubstr;

TEST_F(AccessTest, AJoinTokenIsExchangedForTheAgentsOwnToken) {
  const Identity join = JoinToken("cpu");
  std::string agent_token;
  const std::string agent_id = JoinAgent(join, "node1", &agent_token);
  absl::StatusOr<common::AccessToken> parsed = common::ParseAccessToken(agent_token);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->kind, runyard::v1::TOKEN_KIND_AGENT);

  const Identity agent = Who(agent_token);
  EXPECT_EQ(agent.kind, runyard::v1::TOKEN_KIND_AGENT);
  EXPECT_EQ(agent.pool, "cpu");
  EXPECT_EQ(agent.agent_name, "node1");
  EXPECT_EQ(agent.Actor(), "agent cpu/node1 (token " + agent.token_id + ")");
  EXPECT_EQ(Plane().WhoAmI(agent).created_by(), "join:" + join.token_id);

  absl::StatusOr<std::vector<runyard::v1::AgentInfo>> agents = Plane().ListAgents("cpu", true);
  ASSERT_TRUE(agents.ok()) << agents.status();
  ASSERT_EQ(agents->size(), 1u);
  EXPECT_EQ(agents->front().agent_id(), agent_id);
  EXPECT_EQ(agents->front().identity(), "agent token " + agent.token_id +
                                            ", joined with join token " + join.token_id);
}

TEST_F(AccessTest, AJoinTokenRegistersOnlyInItsPool) {
  const Identity gpu_join = JoinToken("gpu");
  ExpectRefused(Plane().CheckRegister(gpu_join, Registration("a", "cpu")),
                absl::StatusCode::kPermissionDenied, "may not register agents of pool 'cpu'");
  ExpectRefused(Plane().Register(Registration("a", "cpu"), gpu_join).status(),
                absl::StatusCode::kPermissionDenied, "pool 'cpu'");
  EXPECT_TRUE(Plane().CheckRegister(gpu_join, Registration("a", "gpu")).ok());
  // A join token for any pool.
  const Identity any = Who(NewToken(runyard::v1::TOKEN_KIND_JOIN, runyard::v1::ROLE_UNSPECIFIED,
                                    "", ""));
  EXPECT_TRUE(Plane().Register(Registration("a", "cpu"), any).ok());
  EXPECT_TRUE(Plane().Register(Registration("b", "gpu"), any).ok());
  // Users register no agents; an agent's token is bound to a name.
  ExpectRefused(Plane().CheckRegister(User("alice"), Registration("a")),
                absl::StatusCode::kPermissionDenied, "needs a join token or an agent token");
  ExpectRefused(Plane().Register(Registration("", "cpu"), any).status(),
                absl::StatusCode::kInvalidArgument, "name is empty");
}

TEST_F(AccessTest, AnAgentRegistersAgainWithItsOwnToken) {
  const Identity join = JoinToken();
  std::string agent_token;
  JoinAgent(join, "node1", &agent_token);
  const Identity agent = Who(agent_token);

  absl::StatusOr<runyard::v1::RegisterResponse> again =
      Plane().Register(Registration("node1"), agent);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->agent_token(), "");  // it keeps the one it has
  EXPECT_TRUE(Plane().CheckAgent(agent, again->agent_id()).ok());
  absl::StatusOr<std::vector<runyard::v1::AgentInfo>> agents = Plane().ListAgents("cpu", true);
  for (const auto& info : *agents) {
    EXPECT_EQ(info.identity(), "agent token " + agent.token_id + ", joined with join token " +
                                   join.token_id);
  }
  ExpectRefused(Plane().CheckRegister(agent, Registration("node2")),
                absl::StatusCode::kPermissionDenied, "it belongs to cpu/node1");
  ExpectRefused(Plane().CheckRegister(agent, Registration("node1", "gpu")),
                absl::StatusCode::kPermissionDenied, "register as agent gpu/node1");
}

TEST_F(AccessTest, AnAgentTokenPollsOnlyForItsOwnAgents) {
  const Identity join = JoinToken();
  std::string token1, token2;
  const std::string agent1 = JoinAgent(join, "node1", &token1);
  const std::string agent2 = JoinAgent(join, "node2", &token2);
  const Identity node1 = Who(token1);
  EXPECT_TRUE(Plane().CheckAgent(node1, agent1).ok());
  ExpectRefused(Plane().CheckAgent(node1, agent2), absl::StatusCode::kPermissionDenied,
                "agent " + agent2 + " is not yours");
  // An agent the server does not know is told so, and registers again.
  EXPECT_EQ(Plane().CheckAgent(node1, "agent-gone").code(), absl::StatusCode::kNotFound);
  ExpectRefused(Plane().CheckAgent(User("alice"), agent1), absl::StatusCode::kPermissionDenied,
                "needs an agent token");
  EXPECT_TRUE(Plane().CheckAgent(Identity::Local(), agent2).ok());
}

TEST_F(AccessTest, AnAgentTokenWritesOnlyUnderItsOwnLeases) {
  const Identity join = JoinToken();
  std::string token1, token2;
  const std::string agent1 = JoinAgent(join, "node1", &token1);
  JoinAgent(join, "node2", &token2);
  const runyard::v1::Assignment assignment = HandOutTo(agent1);
  EXPECT_TRUE(Plane().CheckLeaseHolder(Who(token1), assignment.lease()).ok());
  ExpectRefused(Plane().CheckLeaseHolder(Who(token2), assignment.lease()),
                absl::StatusCode::kPermissionDenied, "is not held by agent cpu/node2");
  ExpectRefused(Plane().CheckLeaseHolder(User("alice"), assignment.lease()),
                absl::StatusCode::kPermissionDenied, "needs an agent token or the run's token");
}

TEST_F(AccessTest, AStaleLeaseWritesNothingWhoeverPresentsIt) {
  const Identity join = JoinToken();
  std::string token1, token2;
  const std::string agent1 = JoinAgent(join, "node1", &token1);
  const std::string agent2 = JoinAgent(join, "node2", &token2);
  const runyard::v1::Lease stale = HandOutTo(agent1).lease();
  // Never started: at its lease's end the run is queued again, and node2 gets it.
  clock_.Advance(std::chrono::seconds(31));
  Plane().ReapExpiredLeasesNow();
  absl::StatusOr<runyard::v1::PollResponse> answer = Poll(agent2, 1, 1000);
  ASSERT_TRUE(answer.ok() && answer->assignments_size() == 1);
  const runyard::v1::Lease current = answer->assignments(0).lease();

  // node1 may no longer write under the run's new lease, and its old one is refused by the
  // fencing as before.
  ExpectRefused(Plane().CheckLeaseHolder(Who(token1), current),
                absl::StatusCode::kPermissionDenied, "is not held by agent cpu/node1");
  EXPECT_TRUE(Plane().CheckLeaseHolder(Who(token1), stale).ok());
  ExpectRefused(Report(stale, runyard::v1::RUNNING).status(),
                absl::StatusCode::kFailedPrecondition, "is no longer current");
  EXPECT_TRUE(Plane().CheckLeaseHolder(Who(token2), current).ok());
}

TEST_F(AccessTest, ARunTokenWritesOnlyForItsRun) {
  const std::string agent = RegisterAgent();
  const runyard::v1::Assignment first = HandOutTo(agent);
  const runyard::v1::Assignment second = HandOutTo(agent);
  const Identity run_token = Who(first.run_token());
  EXPECT_EQ(run_token.kind, runyard::v1::TOKEN_KIND_RUN);
  EXPECT_EQ(run_token.run_id, first.lease().run_id());
  EXPECT_TRUE(Plane().CheckLeaseHolder(run_token, first.lease()).ok());
  ExpectRefused(Plane().CheckLeaseHolder(run_token, second.lease()),
                absl::StatusCode::kPermissionDenied,
                "may not write to run " + second.lease().run_id());
  EXPECT_NE(first.run_token(), second.run_token());
  ExpectRefused(Plane().CheckAgent(run_token, agent), absl::StatusCode::kPermissionDenied,
                "needs an agent token");
}

TEST_F(AccessTest, ARunTokenExpiresAnHourAfterTheRunsDeadline) {
  const std::string agent = RegisterAgent();
  runyard::v1::RunSpec spec = Spec();
  spec.set_max_run_duration_seconds(600);
  const runyard::v1::Assignment assignment = HandOutTo(agent, spec);
  const Identity run = Who(assignment.run_token());
  EXPECT_EQ(Plane().WhoAmI(run).expires_unix_ms(), clock_.NowUnixMs() + (600 + 3600) * 1000);
  clock_.Advance(std::chrono::seconds(600 + 3600 - 1));
  EXPECT_TRUE(Plane().Authenticate(assignment.run_token()).ok());
  clock_.Advance(std::chrono::seconds(1));
  ExpectRefused(Plane().Authenticate(assignment.run_token()).status(),
                absl::StatusCode::kUnauthenticated, "expired at");

  // The reaper deletes it in time; run tokens are never listed.
  clock_.Advance(std::chrono::seconds(1));
  Plane().ReapExpiredLeasesNow();
  ExpectRefused(Plane().Authenticate(assignment.run_token()).status(),
                absl::StatusCode::kUnauthenticated, "is not known");
  EXPECT_EQ(Plane().ListTokens({})->tokens_size(), 0);
}

TEST_F(AccessTest, EveryNodeOfADistributedRunGetsARunToken) {
  const std::string node0 = RegisterNode("n0");
  const std::string node1 = RegisterNode("n1");
  const std::string run_id = SubmitGang(2);
  std::set<std::string> tokens;
  for (const runyard::v1::PollResponse& answer : PollTogether({node0, node1})) {
    ASSERT_EQ(answer.assignments_size(), 1);
    const runyard::v1::Assignment& assignment = answer.assignments(0);
    const Identity run = Who(assignment.run_token());
    EXPECT_EQ(run.run_id, run_id);
    EXPECT_TRUE(Plane().CheckLeaseHolder(run, assignment.lease()).ok());
    tokens.insert(assignment.run_token());
  }
  EXPECT_EQ(tokens.size(), 2u);
}

TEST_F(AccessTest, RevokingAnAgentEndsItsRunsAndItsNextCall) {
  const Identity admin = User("root", runyard::v1::ROLE_ADMIN);
  const Identity join = JoinToken();
  std::string agent_token;
  const std::string agent_id = JoinAgent(join, "node1", &agent_token);
  const Identity agent = Who(agent_token);
  const runyard::v1::Assignment assignment = HandOutTo(agent_id);
  ASSERT_TRUE(Report(assignment.lease(), runyard::v1::RUNNING).ok());

  absl::StatusOr<runyard::v1::TokenInfo> revoked = Plane().RevokeToken(admin, agent.token_id);
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_TRUE(revoked->revoked());
  absl::StatusOr<runyard::v1::Run> run = Plane().Get(assignment.lease().run_id());
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->status(), runyard::v1::FAILED);
  EXPECT_EQ(run->error().code(), common::RunErrorCodeName(common::RunErrorCode::kAgentLost));
  EXPECT_EQ(run->error().message(), "agent cpu/node1 was revoked by " + admin.Actor());

  ExpectRefused(Plane().Authenticate(agent_token).status(), absl::StatusCode::kUnauthenticated,
                "token " + agent.token_id + " was revoked");
  // Nothing is taken under its lease any more, even with the run's own token.
  EXPECT_TRUE(Plane().Authenticate(assignment.run_token()).ok());
  runyard::v1::AppendRequest append;
  *append.mutable_lease() = assignment.lease();
  append.set_path("user_logs/std_log.txt");
  append.set_data("late\n");
  EXPECT_EQ(Plane().Append(append).status().code(), absl::StatusCode::kFailedPrecondition);
  // The join token it came from still registers others.
  EXPECT_TRUE(Plane().Register(Registration("node2"), join).ok());
}

TEST_F(AccessTest, RevokingAnAgentEndsItsWaitingPoll) {
  const Identity join = JoinToken();
  std::string agent_token;
  const std::string agent_id = JoinAgent(join, "node1", &agent_token);
  test_support::BackgroundPoll poll(&Plane(), PollRequest(agent_id, 1, 5000));
  poll.WaitUntilWaiting();
  ASSERT_TRUE(Plane().RevokeToken(Identity::Local(), Who(agent_token).token_id).ok());
  absl::StatusOr<runyard::v1::PollResponse> answer = poll.Join();
  ExpectRefused(answer.status(), absl::StatusCode::kUnauthenticated, "was revoked");
  // A run submitted now waits for another agent.
  const std::string run_id = SubmitRun();
  EXPECT_EQ(StatusOf(run_id), runyard::v1::QUEUED);
}

TEST_F(AccessTest, RevokingAJoinTokenStopsRegistrationsOnly) {
  const std::string join_token =
      NewToken(runyard::v1::TOKEN_KIND_JOIN, runyard::v1::ROLE_UNSPECIFIED, "join", "cpu");
  const Identity join = Who(join_token);
  std::string agent_token;
  JoinAgent(join, "node1", &agent_token);
  ASSERT_TRUE(Plane().RevokeToken(Identity::Local(), join.token_id).ok());
  ExpectRefused(Plane().Authenticate(join_token).status(), absl::StatusCode::kUnauthenticated,
                "was revoked");
  EXPECT_TRUE(Plane().Authenticate(agent_token).ok());
}

runyard::v1::RunSpec WithSecrets(runyard::v1::RunSpec spec) {
  auto& variables = *spec.mutable_environment()->mutable_environment_variables();
  variables["HF_TOKEN"] = "hf_s3cr3t_value";
  variables["CUSTOM"] = "listed-secret";
  variables["PLAIN"] = "visible";
  spec.mutable_environment()->add_secret_variables("CUSTOM");
  return spec;
}

void ExpectMasked(const runyard::v1::RunSpec& spec) {
  const auto& variables = spec.environment().environment_variables();
  EXPECT_EQ(variables.at("HF_TOKEN"), "***");
  EXPECT_EQ(variables.at("CUSTOM"), "***");
  EXPECT_EQ(variables.at("PLAIN"), "visible");
}

void ExpectRevealed(const runyard::v1::RunSpec& spec) {
  const auto& variables = spec.environment().environment_variables();
  EXPECT_EQ(variables.at("HF_TOKEN"), "hf_s3cr3t_value");
  EXPECT_EQ(variables.at("CUSTOM"), "listed-secret");
  EXPECT_EQ(variables.at("PLAIN"), "visible");
}

TEST_F(AccessTest, SecretsReachTheAgentButNoRead) {
  const std::string agent = RegisterAgent();
  absl::StatusOr<runyard::v1::Run> submitted = Plane().Submit(WithSecrets(Spec()));
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  ExpectMasked(submitted->spec());
  ExpectMasked(Plane().Get(submitted->run_id())->spec());
  ExpectMasked(Plane().List("exp", 10)->front().spec());
  ExpectMasked(store_->GetRun(submitted->run_id())->spec());

  absl::StatusOr<runyard::v1::PollResponse> answer = Poll(agent, 1, 1000);
  ASSERT_TRUE(answer.ok() && answer->assignments_size() == 1);
  ExpectRevealed(answer->assignments(0).spec());
  ExpectMasked(Plane().Get(submitted->run_id())->spec());

  // Kept only while something may run it.
  const runyard::v1::Lease lease = answer->assignments(0).lease();
  ASSERT_TRUE(Report(lease, runyard::v1::RUNNING).ok());
  EXPECT_FALSE(store_->RunSecrets(submitted->run_id())->empty());
  ASSERT_TRUE(Report(lease, runyard::v1::COMPLETED).ok());
  EXPECT_TRUE(store_->RunSecrets(submitted->run_id())->empty());
}

TEST_F(AccessTest, EveryNodeGetsTheSecrets) {
  const std::string node0 = RegisterNode("n0");
  const std::string node1 = RegisterNode("n1");
  ASSERT_TRUE(Plane().Submit(WithSecrets(GangSpec(2, 2))).ok());
  for (const runyard::v1::PollResponse& answer : PollTogether({node0, node1})) {
    ASSERT_EQ(answer.assignments_size(), 1);
    ExpectRevealed(answer.assignments(0).spec());
  }
}

TEST_F(AccessTest, TheLocalHolderReadsTheSecretsWithItsLease) {
  absl::StatusOr<runyard::v1::Run> run = Plane().Submit(WithSecrets(Spec()));
  ASSERT_TRUE(run.ok()) << run.status();
  absl::StatusOr<runyard::v1::Lease> lease = Plane().LeaseToSelf(run->run_id(), "local:1");
  ASSERT_TRUE(lease.ok()) << lease.status();
  absl::StatusOr<runyard::v1::RunSpec> spec = Plane().HeldRunSpec(*lease);
  ASSERT_TRUE(spec.ok()) << spec.status();
  ExpectRevealed(*spec);
  runyard::v1::Lease stale = *lease;
  stale.set_fencing_token(lease->fencing_token() - 1);
  EXPECT_EQ(Plane().HeldRunSpec(stale).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace runyard::server::access_testing
