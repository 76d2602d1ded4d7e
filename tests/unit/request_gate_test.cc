// Tests for server/request_gate.h and its table (server/access_rules.h): every method of
// services.proto has a rule; who may call what; and Admit against a real control plane
// (tokens, roles, resource checks, the rate, the request limits, the audit of refusals).

#include "server/request_gate.h"

#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "runyard/v1/services.grpc.pb.h"
#include "server/access_rules.h"
#include "tests/unit/control_plane_fixture.h"

namespace runyard::server {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAreArray;

// "/runyard.v1.Runs/Submit" for every method of every service of services.proto.
std::set<std::string> ServiceMethods() {
  const google::protobuf::FileDescriptor* file = runyard::v1::SubmitRequest::descriptor()->file();
  std::set<std::string> methods;
  for (int s = 0; s < file->service_count(); ++s) {
    const google::protobuf::ServiceDescriptor* service = file->service(s);
    for (int m = 0; m < service->method_count(); ++m) {
      methods.insert("/" + service->full_name() + "/" + service->method(m)->name());
    }
  }
  return methods;
}

TEST(AccessRulesTest, EveryMethodOfEveryServiceHasARule) {
  const std::set<std::string> methods = ServiceMethods();
  // The four services of the contract, by their generated names.
  for (const std::string service :
       {runyard::v1::Cas::service_full_name(), runyard::v1::Runs::service_full_name(),
        runyard::v1::Agents::service_full_name(), runyard::v1::Access::service_full_name()}) {
    EXPECT_TRUE(std::any_of(methods.begin(), methods.end(), [&](const std::string& method) {
      return method.starts_with("/" + service + "/");
    })) << service;
  }
  for (const std::string& method : methods) {
    EXPECT_NE(FindAccessRule(method), nullptr) << method << " has no access rule";
  }
}

TEST(AccessRulesTest, EveryRuleNamesAMethodOnce) {
  const std::set<std::string> methods = ServiceMethods();
  std::set<std::string> ruled;
  for (const AccessRule& rule : AccessRules()) {
    EXPECT_TRUE(methods.contains(std::string(rule.method))) << rule.method << " is no method";
    EXPECT_TRUE(ruled.insert(std::string(rule.method)).second) << rule.method << " twice";
    EXPECT_FALSE(rule.what.empty()) << rule.method;
  }
  EXPECT_EQ(FindAccessRule("/runyard.v1.Runs/Nonsense"), nullptr);
}

Identity User(runyard::v1::Role role) {
  Identity who;
  who.kind = runyard::v1::TOKEN_KIND_USER;
  who.role = role;
  return who;
}

Identity OfKind(runyard::v1::TokenKind kind) {
  Identity who;
  who.kind = kind;
  return who;
}

// The short names ("Runs/Submit") of the methods `who` may call.
std::vector<std::string> Allowed(const Identity& who) {
  std::vector<std::string> allowed;
  for (const AccessRule& rule : AccessRules()) {
    if (KindAllowed(rule, who))
      allowed.emplace_back(rule.method.substr(sizeof("/runyard.v1.") - 1));
  }
  return allowed;
}

TEST(AccessRulesTest, AdminsMayCallEverything) {
  EXPECT_THAT(Allowed(User(runyard::v1::ROLE_ADMIN)), SizeIs(AccessRules().size()));
  EXPECT_THAT(Allowed(Identity::Local()), SizeIs(AccessRules().size()));
}

TEST(AccessRulesTest, ReadersRead) {
  EXPECT_THAT(
      Allowed(User(runyard::v1::ROLE_READER)),
      UnorderedElementsAreArray({"Cas/FindMissingBlobs", "Cas/FetchBlob", "Cas/FetchBlobs",
                                 "Cas/GetSnapshotLimits", "Runs/Get", "Runs/List", "Runs/Watch",
                                 "Runs/ListFiles", "Runs/ReadFile", "Runs/ListAgents",
                                 "Runs/GetMetrics", "Runs/ListExperiments", "Access/WhoAmI"}));
}

TEST(AccessRulesTest, UsersAlsoSubmitCancelTagArchiveAndUpload) {
  std::vector<std::string> expected = Allowed(User(runyard::v1::ROLE_READER));
  for (const char* more :
       {"Cas/BatchUploadBlobs", "Cas/UploadBlob", "Cas/GetUploadOffset", "Runs/Submit",
        "Runs/Cancel", "Runs/SetTags", "Runs/SetExperimentArchived"}) {
    expected.push_back(more);
  }
  EXPECT_THAT(Allowed(User(runyard::v1::ROLE_USER)), UnorderedElementsAreArray(expected));
}

TEST(AccessRulesTest, JoinAgentAndRunTokensServeTheirOwnWorkOnly) {
  EXPECT_THAT(Allowed(OfKind(runyard::v1::TOKEN_KIND_JOIN)),
              UnorderedElementsAreArray({"Agents/Register"}));
  EXPECT_THAT(Allowed(OfKind(runyard::v1::TOKEN_KIND_AGENT)),
              UnorderedElementsAreArray({"Agents/Register", "Agents/Poll", "Agents/UpdateStatus",
                                         "Agents/Append", "Agents/Report", "Cas/FetchBlob",
                                         "Cas/FetchBlobs", "Cas/GetSnapshotLimits"}));
  EXPECT_THAT(Allowed(OfKind(runyard::v1::TOKEN_KIND_RUN)),
              UnorderedElementsAreArray({"Agents/UpdateStatus", "Agents/Append", "Agents/Report"}));
  EXPECT_THAT(Allowed(OfKind(runyard::v1::TOKEN_KIND_UNSPECIFIED)), IsEmpty());
  EXPECT_THAT(Allowed(User(runyard::v1::ROLE_UNSPECIFIED)), IsEmpty());
}

TEST(AccessRulesTest, NeedsSaysWhatWouldDo) {
  EXPECT_EQ(Needs(*FindAccessRule("/runyard.v1.Runs/Submit")), "role user");
  EXPECT_EQ(Needs(*FindAccessRule("/runyard.v1.Access/CreateToken")), "role admin");
  EXPECT_EQ(Needs(*FindAccessRule("/runyard.v1.Agents/Register")),
            "a join token, an agent token or role admin");
  EXPECT_EQ(Needs(*FindAccessRule("/runyard.v1.Agents/Report")),
            "an agent token, a run token or role admin");
}

// ---------------------------------------------------------------- Admit, on a real plane

class RequestGateTest : public test_support::ControlPlaneTest {
 protected:
  std::string UserToken(runyard::v1::Role role, const std::string& name) {
    return NewToken(runyard::v1::TOKEN_KIND_USER, role, name);
  }

  static CallFacts Bearer(const std::string& token,
                          const std::string& peer = "ipv4:10.0.0.7:4000") {
    CallFacts call;
    call.authorization.push_back("Bearer " + token);
    call.peer = peer;
    return call;
  }

  RequestGate& Gate(double rate = 2000) {
    if (!gate_) {
      GateOptions options;
      options.max_requests_per_second = rate;
      options.clock = &clock_;
      gate_ = std::make_unique<RequestGate>(&Plane(), options);
    }
    return *gate_;
  }

  std::vector<runyard::v1::AuditEvent> Denials() {
    absl::StatusOr<runyard::v1::ListAuditResponse> audit = Plane().ListAudit({});
    EXPECT_TRUE(audit.ok()) << audit.status();
    std::vector<runyard::v1::AuditEvent> denied;
    if (!audit.ok()) return denied;
    for (const auto& event : audit->events()) {
      if (event.action() == "denied") denied.push_back(event);
    }
    return denied;
  }

  runyard::v1::SubmitRequest SubmitRequest() const {
    runyard::v1::SubmitRequest request;
    *request.mutable_spec() = Spec();
    return request;
  }

  std::unique_ptr<RequestGate> gate_;
};

constexpr char kSubmit[] = "/runyard.v1.Runs/Submit";

TEST_F(RequestGateTest, ACallWithoutATokenIsUnauthenticatedAndAudited) {
  const runyard::v1::SubmitRequest request = SubmitRequest();
  absl::StatusOr<Identity> who =
      Gate().Admit(CallFacts{{}, "ipv4:10.0.0.7:4000"}, kSubmit, &request);
  EXPECT_TRUE(absl::IsUnauthenticated(who.status())) << who.status();
  EXPECT_THAT(who.status().message(), HasSubstr("no token"));
  EXPECT_THAT(who.status().message(), HasSubstr("(from 10.0.0.7)"));
  const auto denied = Denials();
  ASSERT_THAT(denied, SizeIs(1));
  EXPECT_EQ(denied[0].target(), kSubmit);
}

TEST_F(RequestGateTest, AMalformedAuthorizationIsRefused) {
  const runyard::v1::SubmitRequest request = SubmitRequest();
  CallFacts basic;
  basic.authorization.push_back("Basic YWxpY2U6c2VjcmV0");
  EXPECT_THAT(Gate().Admit(basic, kSubmit, &request).status().message(),
              HasSubstr("not 'Bearer <token>'"));
  CallFacts twice;
  twice.authorization = {"Bearer a", "Bearer b"};
  EXPECT_TRUE(absl::IsUnauthenticated(Gate().Admit(twice, kSubmit, &request).status()));
  EXPECT_TRUE(
      absl::IsUnauthenticated(Gate().Admit(Bearer("ryu_nonsense"), kSubmit, &request).status()));
}

TEST_F(RequestGateTest, TheBearerSchemeIsCaseInsensitive) {
  const std::string token = UserToken(runyard::v1::ROLE_USER, "alice");
  const runyard::v1::SubmitRequest request = SubmitRequest();
  CallFacts call;
  call.authorization.push_back("bearer " + token);
  absl::StatusOr<Identity> who = Gate().Admit(call, kSubmit, &request);
  ASSERT_TRUE(who.ok()) << who.status();
  EXPECT_EQ(who->name, "alice");
}

TEST_F(RequestGateTest, AReaderMayReadButNotSubmit) {
  const std::string token = UserToken(runyard::v1::ROLE_READER, "rita");
  runyard::v1::ListRunsRequest list;
  EXPECT_TRUE(Gate().Admit(Bearer(token), "/runyard.v1.Runs/List", &list).ok());
  const runyard::v1::SubmitRequest request = SubmitRequest();
  absl::StatusOr<Identity> who = Gate().Admit(Bearer(token), kSubmit, &request);
  EXPECT_TRUE(absl::IsPermissionDenied(who.status())) << who.status();
  EXPECT_THAT(who.status().message(), HasSubstr("user rita (token "));
  EXPECT_THAT(who.status().message(), HasSubstr(") may not submit runs: needs role user"));
  const auto denied = Denials();
  ASSERT_THAT(denied, SizeIs(1));
  EXPECT_THAT(denied[0].actor(), HasSubstr("user rita"));
  EXPECT_THAT(denied[0].detail(), HasSubstr("may not submit runs"));
}

TEST_F(RequestGateTest, AnUnknownMethodIsRefused) {
  const std::string token = UserToken(runyard::v1::ROLE_ADMIN, "root");
  EXPECT_THAT(Gate().Admit(Bearer(token), "/runyard.v1.Runs/Drop", nullptr).status().message(),
              HasSubstr("/runyard.v1.Runs/Drop has no access rule"));
}

TEST_F(RequestGateTest, AJoinTokenRegistersItsPoolOnly) {
  const std::string join =
      NewToken(runyard::v1::TOKEN_KIND_JOIN, runyard::v1::ROLE_UNSPECIFIED, "gpu join", "gpu");
  runyard::v1::RegisterRequest request;
  request.set_name("node1");
  request.set_pool("gpu");
  request.set_slots(1);
  EXPECT_TRUE(Gate().Admit(Bearer(join), "/runyard.v1.Agents/Register", &request).ok());
  request.set_pool("cpu");
  EXPECT_TRUE(absl::IsPermissionDenied(
      Gate().Admit(Bearer(join), "/runyard.v1.Agents/Register", &request).status()));
  runyard::v1::PollRequest poll;
  EXPECT_THAT(Gate().Admit(Bearer(join), "/runyard.v1.Agents/Poll", &poll).status().message(),
              HasSubstr("may not poll for runs: needs an agent token or role admin"));
  EXPECT_THAT(Denials(), SizeIs(2));
}

TEST_F(RequestGateTest, RequestLimitsNameTheField) {
  const std::string token = UserToken(runyard::v1::ROLE_USER, "alice");
  runyard::v1::SubmitRequest request = SubmitRequest();
  (*request.mutable_spec()->mutable_tags())["x"] = std::string(70000, 'v');
  absl::StatusOr<Identity> who = Gate().Admit(Bearer(token), kSubmit, &request);
  EXPECT_TRUE(absl::IsInvalidArgument(who.status()));
  EXPECT_EQ(who.status().message(), "spec.tags[\"x\"]: 70000 bytes, more than the limit of 65536");
}

TEST_F(RequestGateTest, TheRateIsPerTokenAndItsFirstRefusalIsAudited) {
  const std::string alice = UserToken(runyard::v1::ROLE_READER, "alice");
  const std::string bob = UserToken(runyard::v1::ROLE_READER, "bob");
  runyard::v1::ListRunsRequest list;
  constexpr char kList[] = "/runyard.v1.Runs/List";
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(Gate(10).Admit(Bearer(alice), kList, &list).ok()) << i;
  absl::StatusOr<Identity> refused = Gate().Admit(Bearer(alice), kList, &list);
  EXPECT_TRUE(absl::IsResourceExhausted(refused.status())) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("rate limit: user alice (token "));
  EXPECT_THAT(refused.status().message(),
              HasSubstr("made more than 10 requests/s (server option max_requests_per_second)"));
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(Gate().Admit(Bearer(alice), kList, &list).ok());
  EXPECT_TRUE(Gate().Admit(Bearer(bob), kList, &list).ok());
  EXPECT_THAT(Denials(), SizeIs(1));
  clock_.Advance(std::chrono::milliseconds(200));  // two tokens again
  EXPECT_TRUE(Gate().Admit(Bearer(alice), kList, &list).ok());
}

TEST_F(RequestGateTest, BadTokensAreLimitedPerPeer) {
  runyard::v1::ListRunsRequest list;
  constexpr char kList[] = "/runyard.v1.Runs/List";
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(absl::IsUnauthenticated(Gate(1).Admit(Bearer("x"), kList, &list).status()));
  }
  EXPECT_TRUE(absl::IsResourceExhausted(Gate().Admit(Bearer("x"), kList, &list).status()));
  EXPECT_TRUE(absl::IsResourceExhausted(Gate().Admit(Bearer("y"), kList, &list).status()));
  // Another peer has a bucket of its own.
  EXPECT_TRUE(absl::IsUnauthenticated(
      Gate().Admit(Bearer("x", "ipv4:10.0.0.8:4000"), kList, &list).status()));
  EXPECT_THAT(Denials(), SizeIs(4));  // two, the first over the rate, the other peer's
}

}  // namespace
}  // namespace runyard::server
