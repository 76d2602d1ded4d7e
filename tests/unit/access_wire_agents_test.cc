// Issue 17 over the wire, for agents and runs (tests/unit/access_wire_fixture.h): a rogue
// agent without a valid join token cannot register; a registered agent cannot poll as
// another, write to a run it does not hold or read runs; a run's token writes its own run
// only; a revoked agent is cut off at its next call and its run ends.

#include <string>

#include "common/access_token.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/access_wire_fixture.h"

namespace runyard::server {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

class AccessWireAgentsTest : public test_support::AccessWireTest {
 protected:
  void SetUp() override {
    AccessWireTest::SetUp();
    StartServer();
    user_ = UserToken(runyard::v1::ROLE_USER, "ulla");
    admin_ = UserToken(runyard::v1::ROLE_ADMIN, "root");
    join_ = JoinToken("cpu");
  }

  struct Agent {
    std::string id;
    std::string token;
  };

  grpc::Status Register(const std::string& token, const std::string& name,
                        runyard::v1::RegisterResponse* response, const std::string& pool = "cpu") {
    runyard::v1::RegisterRequest request;
    request.set_name(name);
    request.set_pool(pool);
    request.set_slots(1);
    return As(token, [&](auto* c) { return agents_stub_->Register(c, request, response); });
  }

  Agent Joined(const std::string& name) {
    runyard::v1::RegisterResponse response;
    grpc::Status registered = Register(join_, name, &response);
    EXPECT_TRUE(registered.ok()) << registered.error_message();
    EXPECT_FALSE(response.agent_token().empty());
    return {response.agent_id(), response.agent_token()};
  }

  grpc::Status PollAs(const std::string& token, const std::string& agent_id,
                      runyard::v1::PollResponse* response) {
    runyard::v1::PollRequest request;
    request.set_agent_id(agent_id);
    request.set_free_slots(1);
    request.set_wait_ms(1000);
    return As(token, [&](auto* c) { return agents_stub_->Poll(c, request, response); });
  }

  // Submits a run (as a user) and has `agent` poll it: its assignment.
  runyard::v1::Assignment HandedTo(const Agent& agent) {
    runyard::v1::Run run;
    grpc::Status submitted = Submit(user_, &run);
    EXPECT_TRUE(submitted.ok()) << submitted.error_message();
    runyard::v1::PollResponse polled;
    grpc::Status status = PollAs(agent.token, agent.id, &polled);
    EXPECT_TRUE(status.ok()) << status.error_message();
    if (polled.assignments_size() != 1) {
      ADD_FAILURE() << "run " << run.run_id() << " was not handed out";
      return {};
    }
    EXPECT_EQ(polled.assignments(0).lease().run_id(), run.run_id());
    EXPECT_FALSE(polled.assignments(0).run_token().empty());
    return polled.assignments(0);
  }

  grpc::Status AppendAs(const std::string& token, const runyard::v1::Lease& lease) {
    runyard::v1::AppendRequest request;
    *request.mutable_lease() = lease;
    request.set_path("user_logs/std_log.txt");
    request.set_data("hello\n");
    runyard::v1::AppendResponse response;
    return As(token, [&](auto* c) { return agents_stub_->Append(c, request, &response); });
  }

  grpc::Status StatusAs(const std::string& token, const runyard::v1::Lease& lease,
                        runyard::v1::RunStatus status) {
    runyard::v1::UpdateStatusRequest request;
    *request.mutable_lease() = lease;
    request.set_status(status);
    runyard::v1::UpdateStatusResponse response;
    return As(token, [&](auto* c) { return agents_stub_->UpdateStatus(c, request, &response); });
  }

  grpc::Status ReportAs(const std::string& token, const runyard::v1::Lease& lease,
                        runyard::v1::ReportResponse* response) {
    runyard::v1::ReportRequest request;
    runyard::v1::AppendRequest* append = request.add_items()->mutable_append();
    *append->mutable_lease() = lease;
    append->set_path("user_logs/std_log.txt");
    append->set_data("reported\n");
    return As(token, [&](auto* c) { return agents_stub_->Report(c, request, response); });
  }

  grpc::Status GetAs(const std::string& token, const std::string& run_id) {
    runyard::v1::GetRunRequest request;
    request.set_run_id(run_id);
    runyard::v1::Run run;
    return As(token, [&](auto* c) { return runs_stub_->Get(c, request, &run); });
  }

  std::string user_, admin_, join_;
};

TEST_F(AccessWireAgentsTest, ARogueAgentWithoutAValidJoinTokenCannotRegister) {
  runyard::v1::RegisterResponse response;
  EXPECT_EQ(Register("", "rogue", &response).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Register("ryj_0123456789ab_" + std::string(43, 'x'), "rogue", &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  grpc::Status by_user = Register(user_, "rogue", &response);
  EXPECT_EQ(by_user.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(
      by_user.error_message(),
      HasSubstr("may not register agents: needs a join token, an agent token or role admin"));
  // A join token of another pool.
  grpc::Status other_pool = Register(JoinToken("gpu"), "rogue", &response);
  EXPECT_EQ(other_pool.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << other_pool.error_message();
  absl::StatusOr<std::vector<runyard::v1::AgentInfo>> agents = Plane().ListAgents("", true);
  ASSERT_TRUE(agents.ok()) << agents.status();
  EXPECT_THAT(*agents, IsEmpty());
}

TEST_F(AccessWireAgentsTest, AnAgentTokenRegistersOnlyItsOwnName) {
  const Agent a = Joined("a1");
  runyard::v1::RegisterResponse again;
  grpc::Status same = Register(a.token, "a1", &again);
  EXPECT_TRUE(same.ok()) << same.error_message();
  grpc::Status other = Register(a.token, "b1", &again);
  EXPECT_EQ(other.error_code(), grpc::StatusCode::PERMISSION_DENIED) << other.error_message();
}

TEST_F(AccessWireAgentsTest, AnAgentServesOnlyItsOwnRuns) {
  const Agent a = Joined("a1");
  const Agent b = Joined("b1");
  const runyard::v1::Assignment held_by_a = HandedTo(a);
  const runyard::v1::Lease& lease_a = held_by_a.lease();
  const runyard::v1::RunStatus handed_out = StatusOf(lease_a.run_id());

  runyard::v1::PollResponse polled;
  grpc::Status as_other = PollAs(b.token, a.id, &polled);
  EXPECT_EQ(as_other.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(as_other.error_message(), HasSubstr("is not yours"));

  EXPECT_EQ(AppendAs(b.token, lease_a).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(StatusAs(b.token, lease_a, runyard::v1::RUNNING).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  runyard::v1::ReportResponse reported;
  EXPECT_EQ(ReportAs(b.token, lease_a, &reported).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  grpc::Status read = GetAs(b.token, lease_a.run_id());
  EXPECT_EQ(read.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(read.error_message(), HasSubstr("may not read runs: needs role reader"));

  // Nothing of that reached the run; its holder's own writes do.
  EXPECT_EQ(StatusOf(lease_a.run_id()), handed_out);
  absl::StatusOr<std::vector<runyard::v1::FileInfo>> files = Plane().ListFiles(lease_a.run_id());
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_THAT(*files, IsEmpty());
  EXPECT_TRUE(StatusAs(a.token, lease_a, runyard::v1::RUNNING).ok());
  EXPECT_TRUE(AppendAs(a.token, lease_a).ok());
  EXPECT_EQ(StatusOf(lease_a.run_id()), runyard::v1::RUNNING);
}

TEST_F(AccessWireAgentsTest, ARunTokenWritesItsOwnRunOnly) {
  const Agent a = Joined("a1");
  const Agent b = Joined("b1");
  const runyard::v1::Assignment first = HandedTo(a);
  const runyard::v1::Assignment second = HandedTo(b);
  const runyard::v1::RunStatus handed_out = StatusOf(first.lease().run_id());
  const std::string& token = second.run_token();

  EXPECT_EQ(AppendAs(token, first.lease()).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(StatusAs(token, first.lease(), runyard::v1::RUNNING).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  runyard::v1::ReportResponse reported;
  EXPECT_EQ(ReportAs(token, first.lease(), &reported).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(GetAs(token, second.lease().run_id()).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  runyard::v1::PollResponse polled;
  EXPECT_EQ(PollAs(token, b.id, &polled).error_code(), grpc::StatusCode::PERMISSION_DENIED);

  EXPECT_TRUE(StatusAs(token, second.lease(), runyard::v1::RUNNING).ok());
  EXPECT_TRUE(AppendAs(token, second.lease()).ok());
  grpc::Status own_report = ReportAs(token, second.lease(), &reported);
  ASSERT_TRUE(own_report.ok()) << own_report.error_message();
  EXPECT_EQ(reported.applied(), 1);
  EXPECT_EQ(StatusOf(first.lease().run_id()), handed_out);
}

TEST_F(AccessWireAgentsTest, ARevokedAgentIsCutOffAndItsRunEnds) {
  const Agent a = Joined("a1");
  const runyard::v1::Assignment held = HandedTo(a);
  ASSERT_TRUE(StatusAs(a.token, held.lease(), runyard::v1::RUNNING).ok());

  absl::StatusOr<common::AccessToken> parsed = common::ParseAccessToken(a.token);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  runyard::v1::RevokeTokenRequest revoke;
  revoke.set_token_id(parsed->token_id);
  runyard::v1::TokenInfo revoked;
  grpc::Status status =
      As(admin_, [&](auto* c) { return access_stub_->RevokeToken(c, revoke, &revoked); });
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(revoked.revoked());

  runyard::v1::PollResponse polled;
  grpc::Status cut_off = PollAs(a.token, a.id, &polled);
  EXPECT_EQ(cut_off.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(cut_off.error_message(), HasSubstr("revoked"));

  absl::StatusOr<runyard::v1::Run> run = Plane().Get(held.lease().run_id());
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->status(), runyard::v1::FAILED);
  EXPECT_EQ(run->error().code(), "AgentLost");
  EXPECT_THAT(run->error().message(), HasSubstr("revoked by user root"));
}

}  // namespace
}  // namespace runyard::server
