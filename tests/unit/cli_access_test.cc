// Tests for the CLI's access commands without a server: `runyard tokens create`'s flags
// (cli/commands.h BuildCreateTokenRequest, --ttl, --role), the token and audit listings
// (cli/access_listing.h), and what a refused call says (cli/remote_call.h).

#include <string>
#include <vector>

#include "cli/access_listing.h"
#include "cli/commands.h"
#include "cli/remote_call.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace runyard::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kNow = 1'780'000'000'000;

TEST(CliAccessTest, TtlTakesUnitsAndNever) {
  EXPECT_EQ(ParseTtlSeconds("30d").value_or(-1), 30 * 86400);
  EXPECT_EQ(ParseTtlSeconds("12h").value_or(-1), 12 * 3600);
  EXPECT_EQ(ParseTtlSeconds("45m").value_or(-1), 45 * 60);
  EXPECT_EQ(ParseTtlSeconds("90s").value_or(-1), 90);
  EXPECT_EQ(ParseTtlSeconds("3600").value_or(-1), 3600);
  EXPECT_EQ(ParseTtlSeconds("never").value_or(-1), 0);
  for (const std::string bad : {"", "d", "-1d", "3 weeks", "1.5h", "1w"}) {
    absl::StatusOr<int64_t> ttl = ParseTtlSeconds(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(ttl.status())) << bad;
    EXPECT_THAT(std::string(ttl.status().message()), HasSubstr("--ttl")) << bad;
  }
}

TEST(CliAccessTest, RolesByName) {
  EXPECT_EQ(ParseRole("admin").value_or(runyard::v1::ROLE_UNSPECIFIED), runyard::v1::ROLE_ADMIN);
  EXPECT_EQ(ParseRole("User").value_or(runyard::v1::ROLE_UNSPECIFIED), runyard::v1::ROLE_USER);
  EXPECT_EQ(ParseRole("reader").value_or(runyard::v1::ROLE_UNSPECIFIED), runyard::v1::ROLE_READER);
  EXPECT_THAT(std::string(ParseRole("root").status().message()), HasSubstr("admin, user or reader"));
}

TEST(CliAccessTest, CreateRequestForAUserToken) {
  TokenCreateOptions options;
  options.name = "alice";
  options.role = "user";
  options.ttl = "30d";
  absl::StatusOr<runyard::v1::CreateTokenRequest> request = BuildCreateTokenRequest(options);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->kind(), runyard::v1::TOKEN_KIND_USER);
  EXPECT_EQ(request->role(), runyard::v1::ROLE_USER);
  EXPECT_EQ(request->name(), "alice");
  EXPECT_EQ(request->ttl_seconds(), 30 * 86400);
}

TEST(CliAccessTest, CreateRequestForAJoinToken) {
  TokenCreateOptions options;
  options.name = "gpu agents";
  options.join = true;
  options.pool = "gpu";
  absl::StatusOr<runyard::v1::CreateTokenRequest> request = BuildCreateTokenRequest(options);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->kind(), runyard::v1::TOKEN_KIND_JOIN);
  EXPECT_EQ(request->pool(), "gpu");
  EXPECT_EQ(request->ttl_seconds(), 0);
}

TEST(CliAccessTest, CreateRequestRefusesWhatDoesNotGoTogether) {
  TokenCreateOptions no_name;
  no_name.role = "user";
  EXPECT_THAT(std::string(BuildCreateTokenRequest(no_name).status().message()), HasSubstr("--name"));
  TokenCreateOptions neither;
  neither.name = "x";
  EXPECT_THAT(std::string(BuildCreateTokenRequest(neither).status().message()), HasSubstr("--join"));
  TokenCreateOptions both = neither;
  both.role = "user";
  both.join = true;
  EXPECT_TRUE(absl::IsInvalidArgument(BuildCreateTokenRequest(both).status()));
  TokenCreateOptions pool_without_join = neither;
  pool_without_join.role = "user";
  pool_without_join.pool = "gpu";
  EXPECT_THAT(std::string(BuildCreateTokenRequest(pool_without_join).status().message()), HasSubstr("--pool"));
}

std::vector<runyard::v1::TokenInfo> Tokens() {
  runyard::v1::TokenInfo admin;
  admin.set_token_id("1a2b3c4d5e6f");
  admin.set_kind(runyard::v1::TOKEN_KIND_USER);
  admin.set_role(runyard::v1::ROLE_ADMIN);
  admin.set_name("bootstrap admin");
  admin.set_created_unix_ms(kNow - 86'400'000);
  admin.set_last_used_unix_ms(kNow - 5'000);
  runyard::v1::TokenInfo agent;
  agent.set_token_id("0f9e8d7c6b5a");
  agent.set_kind(runyard::v1::TOKEN_KIND_AGENT);
  agent.set_pool("gpu");
  agent.set_agent_name("node-1");
  agent.set_created_unix_ms(kNow - 3'600'000);
  agent.set_expires_unix_ms(kNow + 3'600'000);
  agent.set_revoked(true);
  return {admin, agent};
}

TEST(CliAccessTest, TokenTableHasEveryColumn) {
  const std::string table = TokenTable(Tokens(), kNow);
  EXPECT_THAT(table, HasSubstr("ID            KIND   ROLE   NAME             POOL  CREATED"));
  EXPECT_THAT(table, HasSubstr("EXPIRES                   LAST USED  REVOKED\n"));
  EXPECT_THAT(table, HasSubstr("1a2b3c4d5e6f  user   admin  bootstrap admin  -"));
  EXPECT_THAT(table, HasSubstr("never                     5s ago     no\n"));
  EXPECT_THAT(table, HasSubstr("0f9e8d7c6b5a  agent  -      gpu/node-1       gpu"));
  EXPECT_THAT(table, HasSubstr("never      yes\n"));
}

TEST(CliAccessTest, TokenJsonNamesKindsAndRolesAsWords) {
  const nlohmann::json json = TokensToJson(Tokens());
  ASSERT_EQ(json.size(), 2u);
  EXPECT_EQ(json[0]["token_id"], "1a2b3c4d5e6f");
  EXPECT_EQ(json[0]["kind"], "user");
  EXPECT_EQ(json[0]["role"], "admin");
  EXPECT_TRUE(json[0]["expires"].is_null());
  EXPECT_EQ(json[0]["last_used_unix_ms"], kNow - 5'000);
  EXPECT_EQ(json[1]["kind"], "agent");
  EXPECT_EQ(json[1]["agent_name"], "node-1");
  EXPECT_EQ(json[1]["revoked"], true);
  EXPECT_FALSE(json[1]["expires"].is_null());
}

TEST(CliAccessTest, DescribeTokenSaysWhoNeverTheSecret) {
  const std::vector<runyard::v1::TokenInfo> tokens = Tokens();
  EXPECT_EQ(DescribeToken(tokens[0]), "user token 1a2b3c4d5e6f (bootstrap admin), role admin");
  EXPECT_EQ(DescribeToken(tokens[1]), "agent token 0f9e8d7c6b5a (gpu/node-1)");
  runyard::v1::TokenInfo join;
  join.set_token_id("aaaaaaaaaaaa");
  join.set_kind(runyard::v1::TOKEN_KIND_JOIN);
  join.set_name("agents");
  EXPECT_EQ(DescribeToken(join), "join token aaaaaaaaaaaa (agents), for any pool");
}

TEST(CliAccessTest, AuditTableAndJson) {
  runyard::v1::AuditEvent event;
  event.set_time_unix_ms(kNow);
  event.set_actor("user alice (token 1a2b3c4d5e6f)");
  event.set_action("denied");
  event.set_target("run-1");
  event.set_detail("may not cancel: needs role user");
  const std::string table = AuditTable({event});
  EXPECT_THAT(table, HasSubstr("TIME"));
  EXPECT_THAT(table, HasSubstr("user alice (token 1a2b3c4d5e6f)  denied  run-1   may not cancel: needs role user\n"));
  const nlohmann::json json = AuditToJson({event});
  EXPECT_EQ(json[0]["action"], "denied");
  EXPECT_EQ(json[0]["time_unix_ms"], kNow);
  EXPECT_EQ(json[0]["actor"], "user alice (token 1a2b3c4d5e6f)");
}

TEST(CliAccessTest, RefusalsKeepTheirCodeAndSayWhatToDo) {
  ServerConnection connection;
  connection.server = "runyard.example:7878";
  connection.token = "ryu_0123456789ab_secret";
  connection.token_origin = "RUNYARD_TOKEN";
  const absl::Status unknown =
      RemoteStatus(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "token 0123456789ab is not known"), connection);
  EXPECT_TRUE(absl::IsUnauthenticated(unknown));
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("token 0123456789ab is not known"));
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("RUNYARD_TOKEN"));
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("runyard login --server runyard.example:7878"));
  EXPECT_THAT(std::string(unknown.message()), Not(HasSubstr("secret")));

  const absl::Status denied = RemoteStatus(
      grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "user viewer (token 1a2b3c4d5e6f) may not submit: needs role user"),
      connection);
  EXPECT_TRUE(absl::IsPermissionDenied(denied));
  EXPECT_THAT(std::string(denied.message()), HasSubstr("needs role user"));
  EXPECT_THAT(std::string(denied.message()), HasSubstr("runyard tokens create"));

  const absl::Status other = RemoteStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "no run r1"), connection);
  EXPECT_TRUE(absl::IsNotFound(other));
  EXPECT_EQ(other.message(), "no run r1");
}

}  // namespace
}  // namespace runyard::cli
