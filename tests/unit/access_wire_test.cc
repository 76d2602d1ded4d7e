// Issue 17 over the wire, for users (tests/unit/access_wire_fixture.h): a call without a
// token, with a wrong one or with a read-only one cannot submit or cancel, and changes
// nothing; each role does what it may; the rate limit and the request limits refuse with
// errors that name the limit or the field.

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/access_wire_fixture.h"

namespace runyard::server {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

using AccessWireUsersTest = test_support::AccessWireTest;

TEST_F(AccessWireUsersTest, NoTokenWrongTokenAndReadersCannotSubmit) {
  StartServer();
  const std::string reader = UserToken(runyard::v1::ROLE_READER, "rita");
  runyard::v1::Run run;

  grpc::Status none = Submit("", &run);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(none.error_message(), HasSubstr("no token"));

  // A well-formed token whose secret is wrong, and one the server never issued.
  std::string wrong = reader;
  ASSERT_GT(wrong.size(), 17u);
  wrong[17] = wrong[17] == 'A' ? 'B' : 'A';  // the secret's first character
  grpc::Status bad = Submit(wrong, &run);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::UNAUTHENTICATED) << bad.error_message();
  grpc::Status unknown = Submit("ryu_0123456789ab_" + std::string(43, 'x'), &run);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::UNAUTHENTICATED) << unknown.error_message();

  grpc::Status read_only = Submit(reader, &run);
  EXPECT_EQ(read_only.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(read_only.error_message(), HasSubstr("user rita (token "));
  EXPECT_THAT(read_only.error_message(), HasSubstr("may not submit runs: needs role user"));

  EXPECT_THAT(ListedRuns(), IsEmpty());  // nothing was queued
}

TEST_F(AccessWireUsersTest, NoTokenWrongTokenAndReadersCannotCancel) {
  StartServer();
  const std::string user = UserToken(runyard::v1::ROLE_USER, "ulla");
  const std::string reader = UserToken(runyard::v1::ROLE_READER, "rita");
  runyard::v1::Run run;
  ASSERT_TRUE(Submit(user, &run).ok());
  runyard::v1::CancelRunRequest cancel;
  cancel.set_run_id(run.run_id());
  runyard::v1::Run canceled;
  for (const std::string& token : {std::string(), std::string("rya_garbage"), reader}) {
    grpc::Status refused =
        As(token, [&](auto* c) { return runs_stub_->Cancel(c, cancel, &canceled); });
    EXPECT_TRUE(refused.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
                refused.error_code() == grpc::StatusCode::PERMISSION_DENIED)
        << refused.error_message();
  }
  grpc::Status by_reader =
      As(reader, [&](auto* c) { return runs_stub_->Cancel(c, cancel, &canceled); });
  EXPECT_THAT(by_reader.error_message(), HasSubstr("may not cancel runs: needs role user"));
  EXPECT_EQ(StatusOf(run.run_id()), runyard::v1::QUEUED);  // unchanged

  // The submitter may, and the run says who did.
  ASSERT_TRUE(As(user, [&](auto* c) { return runs_stub_->Cancel(c, cancel, &canceled); }).ok());
  EXPECT_THAT(canceled.canceled_by(), HasSubstr("user ulla"));
  EXPECT_THAT(run.submitted_by(), HasSubstr("user ulla"));
}

TEST_F(AccessWireUsersTest, ReadersReadAndAdminsManageTokens) {
  StartServer();
  const std::string admin = UserToken(runyard::v1::ROLE_ADMIN, "root");
  const std::string user = UserToken(runyard::v1::ROLE_USER, "ulla");
  const std::string reader = UserToken(runyard::v1::ROLE_READER, "rita");
  runyard::v1::Run run;
  ASSERT_TRUE(Submit(user, &run).ok());

  runyard::v1::ListRunsRequest list;
  runyard::v1::ListRunsResponse listed;
  ASSERT_TRUE(As(reader, [&](auto* c) { return runs_stub_->List(c, list, &listed); }).ok());
  EXPECT_THAT(listed.runs(), SizeIs(1));

  runyard::v1::WhoAmIRequest whoami;
  runyard::v1::TokenInfo me;
  ASSERT_TRUE(As(reader, [&](auto* c) { return access_stub_->WhoAmI(c, whoami, &me); }).ok());
  EXPECT_EQ(me.name(), "rita");
  EXPECT_EQ(me.role(), runyard::v1::ROLE_READER);

  runyard::v1::CreateTokenRequest create;
  create.set_kind(runyard::v1::TOKEN_KIND_USER);
  create.set_role(runyard::v1::ROLE_USER);
  create.set_name("ci");
  runyard::v1::CreateTokenResponse created;
  grpc::Status by_user =
      As(user, [&](auto* c) { return access_stub_->CreateToken(c, create, &created); });
  EXPECT_EQ(by_user.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(by_user.error_message(), HasSubstr("may not create tokens: needs role admin"));
  ASSERT_TRUE(
      As(admin, [&](auto* c) { return access_stub_->CreateToken(c, create, &created); }).ok());
  // The new token works at once.
  ASSERT_TRUE(
      As(created.token(), [&](auto* c) { return access_stub_->WhoAmI(c, whoami, &me); }).ok());
  EXPECT_EQ(me.name(), "ci");

  // Every refusal is in the audit, which only admins read.
  runyard::v1::ListAuditRequest audit;
  runyard::v1::ListAuditResponse events;
  EXPECT_EQ(
      As(user, [&](auto* c) { return access_stub_->ListAudit(c, audit, &events); }).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(As(admin, [&](auto* c) { return access_stub_->ListAudit(c, audit, &events); }).ok());
  int denied = 0;
  for (const auto& event : events.events()) denied += event.action() == "denied" ? 1 : 0;
  EXPECT_EQ(denied, 2);
}

TEST_F(AccessWireUsersTest, TheRateLimitNamesItself) {
  StartServer(/*rate=*/5);  // a burst of 10; the FakeClock stands still
  const std::string reader = UserToken(runyard::v1::ROLE_READER, "rita");
  runyard::v1::WhoAmIRequest whoami;
  runyard::v1::TokenInfo me;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(As(reader, [&](auto* c) { return access_stub_->WhoAmI(c, whoami, &me); }).ok())
        << i;
  }
  grpc::Status limited = As(reader, [&](auto* c) { return access_stub_->WhoAmI(c, whoami, &me); });
  EXPECT_EQ(limited.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(limited.error_message(),
              HasSubstr("made more than 5 requests/s (server option max_requests_per_second)"));
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_TRUE(As(reader, [&](auto* c) { return access_stub_->WhoAmI(c, whoami, &me); }).ok());
}

TEST_F(AccessWireUsersTest, AnOversizedStringIsRefusedNamingTheField) {
  StartServer();
  const std::string user = UserToken(runyard::v1::ROLE_USER, "ulla");
  runyard::v1::RunSpec spec = Spec();
  spec.set_display_name(std::string(70000, 'd'));
  runyard::v1::Run run;
  grpc::Status refused = Submit(user, &run, spec);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(refused.error_message(),
            "spec.display_name: 70000 bytes, more than the limit of 65536");
  EXPECT_THAT(ListedRuns(), IsEmpty());
}

}  // namespace
}  // namespace runyard::server
