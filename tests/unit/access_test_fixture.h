// The fixture of the access tests of server/control_plane.h (issue 17): the plane of the
// distributed-run fixture (real SQLite in a temporary folder, a FakeClock), with helpers that
// mint user and join tokens the way an admin would and turn tokens into identities the way
// the request gate does (Authenticate).
#pragma once

#include <string>

#include "tests/unit/gang_test_fixture.h"

namespace runyard::server::access_testing {

class AccessTest : public gang_testing::GangTest {
 protected:
  Identity Who(const std::string& token) {
    absl::StatusOr<Identity> who = Plane().Authenticate(token);
    EXPECT_TRUE(who.ok()) << who.status();
    return who.ok() ? *who : Identity();
  }

  Identity User(const std::string& name, runyard::v1::Role role = runyard::v1::ROLE_USER) {
    return Who(NewToken(runyard::v1::TOKEN_KIND_USER, role, name));
  }

  Identity JoinToken(const std::string& pool = "cpu") {
    return Who(NewToken(runyard::v1::TOKEN_KIND_JOIN, runyard::v1::ROLE_UNSPECIFIED,
                        "join " + pool, pool));
  }

  static runyard::v1::RegisterRequest Registration(const std::string& name,
                                                   const std::string& pool = "cpu") {
    runyard::v1::RegisterRequest request;
    request.set_name(name);
    request.set_pool(pool);
    request.set_slots(1);
    return request;
  }

  // An agent registered with `join`: its id, and its own token in `agent_token`.
  std::string JoinAgent(const Identity& join, const std::string& name,
                        std::string* agent_token = nullptr) {
    absl::StatusOr<runyard::v1::RegisterResponse> registered =
        Plane().Register(Registration(name, join.pool.empty() ? "cpu" : join.pool), join);
    EXPECT_TRUE(registered.ok()) << registered.status();
    if (!registered.ok()) return "";
    if (agent_token) *agent_token = registered->agent_token();
    return registered->agent_id();
  }

  // A run handed to `agent_id`: its assignment (lease and run token).
  runyard::v1::Assignment HandOutTo(const std::string& agent_id,
                                    runyard::v1::RunSpec spec) {
    absl::StatusOr<runyard::v1::Run> run = Plane().Submit(std::move(spec));
    EXPECT_TRUE(run.ok()) << run.status();
    absl::StatusOr<runyard::v1::PollResponse> answer = Poll(agent_id, 1, 1000);
    EXPECT_TRUE(answer.ok()) << answer.status();
    if (!answer.ok() || answer->assignments_size() != 1) {
      ADD_FAILURE() << "nothing handed to " << agent_id;
      return {};
    }
    return answer->assignments(0);
  }
  runyard::v1::Assignment HandOutTo(const std::string& agent_id) {
    return HandOutTo(agent_id, Spec());
  }

  static void ExpectRefused(const absl::Status& status, absl::StatusCode code,
                            const std::string& says) {
    EXPECT_EQ(status.code(), code) << status;
    EXPECT_NE(status.message().find(says), std::string::npos) << status;
  }
};

}  // namespace runyard::server::access_testing
