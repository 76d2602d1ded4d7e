// Tests for the access part of server/control_plane.h (issue 17) that concern people: every
// answer of Authenticate, user tokens and their roles, WhoAmI, listing and revoking, who
// submitted and canceled a run, the audit, and the first admin token's file.

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/access_token.h"
#include "common/read_file.h"
#include "tests/unit/access_test_fixture.h"

namespace runyard::server::access_testing {
namespace {

using ::testing::HasSubstr;

TEST_F(AccessTest, AuthenticateSaysWhyATokenIsRefused) {
  ExpectRefused(Plane().Authenticate("").status(), absl::StatusCode::kUnauthenticated,
                "no token: this server needs one (runyard login, or RUNYARD_TOKEN)");
  ExpectRefused(Plane().Authenticate("hunter2").status(), absl::StatusCode::kUnauthenticated,
                "bad token: ");

  const std::string token =
      NewToken(runyard::v1::TOKEN_KIND_USER, runyard::v1::ROLE_USER, "alice");
  absl::StatusOr<common::AccessToken> parsed = common::ParseAccessToken(token);
  ASSERT_TRUE(parsed.ok());
  // An unknown id, a wrong secret, a known id of another kind: one answer.
  common::AccessToken unknown = *parsed;
  unknown.token_id = parsed->token_id == "000000000000" ? "111111111111" : "000000000000";
  ExpectRefused(Plane().Authenticate(common::FormatAccessToken(unknown)).status(),
                absl::StatusCode::kUnauthenticated, "token " + unknown.token_id + " is not known");
  common::AccessToken wrong_secret = *parsed;
  wrong_secret.secret = common::NewAccessToken(runyard::v1::TOKEN_KIND_USER).secret;
  ExpectRefused(Plane().Authenticate(common::FormatAccessToken(wrong_secret)).status(),
                absl::StatusCode::kUnauthenticated, "token " + parsed->token_id + " is not known");
  common::AccessToken other_kind = *parsed;
  other_kind.kind = runyard::v1::TOKEN_KIND_RUN;
  ExpectRefused(Plane().Authenticate(common::FormatAccessToken(other_kind)).status(),
                absl::StatusCode::kUnauthenticated, "is not known");

  // The header's form is taken too.
  EXPECT_TRUE(Plane().Authenticate("Bearer " + token).ok());

  ASSERT_TRUE(Plane().RevokeToken(Identity::Local(), parsed->token_id).ok());
  ExpectRefused(Plane().Authenticate(token).status(), absl::StatusCode::kUnauthenticated,
                "token " + parsed->token_id + " was revoked");
}

TEST_F(AccessTest, ATokenWithATimeToLiveExpires) {
  const std::string token =
      NewToken(runyard::v1::TOKEN_KIND_USER, runyard::v1::ROLE_READER, "ci", "", 3600);
  EXPECT_TRUE(Plane().Authenticate(token).ok());
  clock_.Advance(std::chrono::seconds(3600));
  // 1'700'000'000'000 + 1 h, the fake clock's start plus the time to live.
  ExpectRefused(Plane().Authenticate(token).status(), absl::StatusCode::kUnauthenticated,
                "expired at 2023-11-14 23:13:20 UTC");
}

TEST_F(AccessTest, UserTokensCarryTheirRoleAndName) {
  const Identity admin = User("root", runyard::v1::ROLE_ADMIN);
  EXPECT_EQ(admin.kind, runyard::v1::TOKEN_KIND_USER);
  EXPECT_EQ(admin.role, runyard::v1::ROLE_ADMIN);
  EXPECT_EQ(admin.name, "root");
  EXPECT_FALSE(admin.trusted);
  const Identity reader = Who(NewToken(runyard::v1::TOKEN_KIND_USER, runyard::v1::ROLE_READER,
                                       "viewer", "", 0, admin));
  EXPECT_EQ(reader.role, runyard::v1::ROLE_READER);
  EXPECT_EQ(reader.Actor(), "user viewer (token " + reader.token_id + ")");

  const runyard::v1::TokenInfo info = Plane().WhoAmI(reader);
  EXPECT_EQ(info.token_id(), reader.token_id);
  EXPECT_EQ(info.name(), "viewer");
  EXPECT_EQ(info.role(), runyard::v1::ROLE_READER);
  EXPECT_EQ(info.created_by(), admin.token_id);  // who made it
  EXPECT_EQ(info.created_unix_ms(), clock_.NowUnixMs());
  EXPECT_EQ(Plane().WhoAmI(Identity::Local()).name(), "local");
}

TEST_F(AccessTest, CreateTokenRefusesWhatItCannotMake) {
  runyard::v1::CreateTokenRequest request;
  request.set_kind(runyard::v1::TOKEN_KIND_USER);
  request.set_name("alice");
  ExpectRefused(Plane().CreateToken(Identity::Local(), request).status(),
                absl::StatusCode::kInvalidArgument, "needs a role");
  request.set_role(runyard::v1::ROLE_USER);
  request.clear_name();
  ExpectRefused(Plane().CreateToken(Identity::Local(), request).status(),
                absl::StatusCode::kInvalidArgument, "needs a name");
  request.set_kind(runyard::v1::TOKEN_KIND_AGENT);
  ExpectRefused(Plane().CreateToken(Identity::Local(), request).status(),
                absl::StatusCode::kInvalidArgument, "the kind must be user or join");
  request.set_kind(runyard::v1::TOKEN_KIND_JOIN);
  request.set_ttl_seconds(-1);
  ExpectRefused(Plane().CreateToken(Identity::Local(), request).status(),
                absl::StatusCode::kInvalidArgument, "ttl_seconds is negative");
}

TEST_F(AccessTest, LastUsedIsWrittenAtMostOnceAMinute) {
  const std::string token = NewToken(runyard::v1::TOKEN_KIND_USER, runyard::v1::ROLE_USER, "a");
  const Identity who = Who(token);
  const int64_t first = clock_.NowUnixMs();
  EXPECT_EQ(Plane().WhoAmI(who).last_used_unix_ms(), first);
  clock_.Advance(std::chrono::seconds(30));
  Who(token);
  EXPECT_EQ(Plane().WhoAmI(who).last_used_unix_ms(), first);
  clock_.Advance(std::chrono::seconds(30));
  Who(token);
  EXPECT_EQ(Plane().WhoAmI(who).last_used_unix_ms(), clock_.NowUnixMs());
}

TEST_F(AccessTest, ListsTokensButNeverTheirSecrets) {
  const Identity alice = User("alice");
  clock_.Advance(std::chrono::milliseconds(1));  // oldest first
  const Identity join = JoinToken("gpu");
  absl::StatusOr<runyard::v1::ListTokensResponse> listed = Plane().ListTokens({});
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->tokens_size(), 2);
  EXPECT_EQ(listed->tokens(0).token_id(), alice.token_id);
  EXPECT_EQ(listed->tokens(1).token_id(), join.token_id);
  EXPECT_EQ(listed->tokens(1).kind(), runyard::v1::TOKEN_KIND_JOIN);
  EXPECT_EQ(listed->tokens(1).pool(), "gpu");

  ASSERT_TRUE(Plane().RevokeToken(Identity::Local(), alice.token_id)->revoked());
  EXPECT_EQ(Plane().ListTokens({})->tokens_size(), 1);
  runyard::v1::ListTokensRequest with_revoked;
  with_revoked.set_include_revoked(true);
  EXPECT_EQ(Plane().ListTokens(with_revoked)->tokens_size(), 2);
  ExpectRefused(Plane().RevokeToken(Identity::Local(), "abcdefabcdef").status(),
                absl::StatusCode::kNotFound, "token abcdefabcdef is not known");
}

TEST_F(AccessTest, RunsRecordWhoSubmittedAndWhoCanceled) {
  const Identity alice = User("alice");
  const Identity bob = User("bob");
  absl::StatusOr<runyard::v1::Run> run = Plane().Submit(Spec(), {}, alice);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->submitted_by(), alice.Actor());
  ASSERT_TRUE(Plane().Cancel(run->run_id(), bob).ok());
  absl::StatusOr<runyard::v1::Run> got = Plane().Get(run->run_id());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->submitted_by(), alice.Actor());
  EXPECT_EQ(got->canceled_by(), bob.Actor());
  // A cancel of an ended run changes nothing, and names nobody new.
  ASSERT_TRUE(Plane().Cancel(run->run_id(), alice).ok());
  EXPECT_EQ(Plane().Get(run->run_id())->canceled_by(), bob.Actor());
  // Local mode's runs are the local user's.
  EXPECT_EQ(Plane().Get(SubmitRun())->submitted_by(), "local");
}

TEST_F(AccessTest, TheAuditListsWhoDidWhatNewestFirst) {
  const Identity admin = User("root", runyard::v1::ROLE_ADMIN);
  const Identity alice = Who(
      NewToken(runyard::v1::TOKEN_KIND_USER, runyard::v1::ROLE_USER, "alice", "", 0, admin));
  clock_.Advance(std::chrono::seconds(1));
  absl::StatusOr<runyard::v1::Run> run = Plane().Submit(Spec(), {}, alice);
  ASSERT_TRUE(run.ok()) << run.status();
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_TRUE(Plane().Cancel(run->run_id(), alice).ok());
  Plane().RecordAudit(alice, "denied", "/runyard.v1.Access/ListTokens", "needs role admin");
  ASSERT_TRUE(Plane().RevokeToken(admin, alice.token_id).ok());

  absl::StatusOr<runyard::v1::ListAuditResponse> audit = Plane().ListAudit({});
  ASSERT_TRUE(audit.ok()) << audit.status();
  std::vector<std::string> actions;
  for (const auto& event : audit->events()) actions.push_back(event.action());
  EXPECT_THAT(actions, ::testing::ElementsAre("revoke_token", "denied", "cancel", "submit",
                                              "create_token", "create_token"));
  EXPECT_EQ(audit->events(0).actor(), admin.Actor());
  EXPECT_EQ(audit->events(0).target(), alice.token_id);
  EXPECT_EQ(audit->events(2).actor(), alice.Actor());
  EXPECT_EQ(audit->events(2).target(), run->run_id());
  EXPECT_THAT(audit->events(2).detail(), HasSubstr("was Queued"));
  EXPECT_EQ(audit->events(3).time_unix_ms(), run->created_unix_ms());

  runyard::v1::ListAuditRequest of_run;
  of_run.set_target(run->run_id());
  EXPECT_EQ(Plane().ListAudit(of_run)->events_size(), 2);
  runyard::v1::ListAuditRequest one;
  one.set_limit(1);
  EXPECT_EQ(Plane().ListAudit(one)->events_size(), 1);
}

TEST_F(AccessTest, TheFirstAdminTokenIsWrittenToAPrivateFileOnce) {
  const std::filesystem::path file = tmp_.path() / "state" / "admin-token";
  ASSERT_TRUE(Plane().EnsureBootstrapAdmin(file).ok());
  struct stat info{};
  ASSERT_EQ(::stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(file.parent_path().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
  const std::string written = common::ReadFileOrEmpty(file);
  ASSERT_FALSE(written.empty());
  EXPECT_EQ(written.back(), '\n');
  const Identity admin = Who(written.substr(0, written.size() - 1));
  EXPECT_EQ(admin.role, runyard::v1::ROLE_ADMIN);
  EXPECT_EQ(admin.name, "bootstrap admin");
  EXPECT_EQ(Plane().WhoAmI(admin).created_by(), "bootstrap");

  // An admin exists: nothing is minted, the file stays as it is.
  ASSERT_TRUE(Plane().EnsureBootstrapAdmin(file).ok());
  EXPECT_EQ(common::ReadFileOrEmpty(file), written);
  EXPECT_EQ(Plane().ListTokens({})->tokens_size(), 1);

  // None left, but the old file is there: never overwritten.
  ASSERT_TRUE(Plane().RevokeToken(admin, admin.token_id).ok());
  ExpectRefused(Plane().EnsureBootstrapAdmin(file), absl::StatusCode::kFailedPrecondition,
                "exists already");
  EXPECT_EQ(common::ReadFileOrEmpty(file), written);
  std::filesystem::remove(file);
  ASSERT_TRUE(Plane().EnsureBootstrapAdmin(file).ok());
  EXPECT_NE(common::ReadFileOrEmpty(file), written);
}

TEST_F(AccessTest, AnotherAdminMeansNoBootstrapToken) {
  User("root", runyard::v1::ROLE_ADMIN);
  const std::filesystem::path file = tmp_.path() / "admin-token";
  ASSERT_TRUE(Plane().EnsureBootstrapAdmin(file).ok());
  EXPECT_FALSE(std::filesystem::exists(file));
}

}  // namespace
}  // namespace runyard::server::access_testing
