// The store suite (tests/unit/store_suite.h), access (issue 17): tokens (insert, read, list,
// revoke, last used, expiry purge), the audit, run secrets, who submitted and canceled a
// run, and the agent token an agent registered with.

#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "tests/unit/store_suite.h"

namespace runyard::server::test_support {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TokenRecord Token(const std::string& token_id, runyard::v1::TokenKind kind,
                  int64_t created_ms = 1000) {
  TokenRecord token;
  token.token_id = token_id;
  token.kind = kind;
  token.name = "name-" + token_id;
  token.secret_sha256 = std::string(64, 'a');
  token.created_ms = created_ms;
  token.created_by = "bootstrap";
  return token;
}

std::vector<std::string> Ids(const std::vector<TokenRecord>& tokens) {
  std::vector<std::string> ids;
  for (const TokenRecord& token : tokens) ids.push_back(token.token_id);
  return ids;
}

TEST_P(StoreSuite, InsertedTokenReadsBack) {
  TokenRecord token = Token("0123456789ab", runyard::v1::TOKEN_KIND_AGENT);
  token.role = runyard::v1::ROLE_READER;
  token.pool = "gpu";
  token.agent_name = "node1";
  token.run_id = "run-1";
  token.expires_ms = 9000;
  token.created_by = "join:ba9876543210";
  token.last_used_ms = 1500;
  ASSERT_TRUE(store().InsertToken(token).ok());

  absl::StatusOr<TokenRecord> got = store().GetToken("0123456789ab");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->token_id, "0123456789ab");
  EXPECT_EQ(got->kind, runyard::v1::TOKEN_KIND_AGENT);
  EXPECT_EQ(got->role, runyard::v1::ROLE_READER);
  EXPECT_EQ(got->name, "name-0123456789ab");
  EXPECT_EQ(got->pool, "gpu");
  EXPECT_EQ(got->agent_name, "node1");
  EXPECT_EQ(got->run_id, "run-1");
  EXPECT_EQ(got->secret_sha256, std::string(64, 'a'));
  EXPECT_EQ(got->created_ms, 1000);
  EXPECT_EQ(got->expires_ms, 9000);
  EXPECT_FALSE(got->revoked);
  EXPECT_EQ(got->created_by, "join:ba9876543210");
  EXPECT_EQ(got->last_used_ms, 1500);
}

TEST_P(StoreSuite, TokenIdsAreUnique) {
  ASSERT_TRUE(store().InsertToken(Token("aaaaaaaaaaaa", runyard::v1::TOKEN_KIND_USER)).ok());
  EXPECT_EQ(store().InsertToken(Token("aaaaaaaaaaaa", runyard::v1::TOKEN_KIND_JOIN)).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store().GetToken("aaaaaaaaaaaa")->kind, runyard::v1::TOKEN_KIND_USER);
  EXPECT_EQ(store().GetToken("bbbbbbbbbbbb").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreSuite, ListsTokensOldestFirstWithoutRunOrRevokedOnesUnlessAsked) {
  ASSERT_TRUE(store().InsertToken(Token("user00000002", runyard::v1::TOKEN_KIND_USER, 2000)).ok());
  ASSERT_TRUE(store().InsertToken(Token("join00000001", runyard::v1::TOKEN_KIND_JOIN, 1000)).ok());
  ASSERT_TRUE(store().InsertToken(Token("agent0000003", runyard::v1::TOKEN_KIND_AGENT, 3000)).ok());
  ASSERT_TRUE(store().InsertToken(Token("run000000004", runyard::v1::TOKEN_KIND_RUN, 4000)).ok());
  ASSERT_TRUE(store().RevokeToken("user00000002").ok());

  EXPECT_THAT(Ids(*store().ListTokens(false, false)), ElementsAre("join00000001", "agent0000003"));
  EXPECT_THAT(Ids(*store().ListTokens(true, false)),
              ElementsAre("join00000001", "user00000002", "agent0000003"));
  EXPECT_THAT(Ids(*store().ListTokens(true, true)),
              ElementsAre("join00000001", "user00000002", "agent0000003", "run000000004"));
}

TEST_P(StoreSuite, RevokingIsKeptAndNamesUnknownTokens) {
  ASSERT_TRUE(store().InsertToken(Token("aaaaaaaaaaaa", runyard::v1::TOKEN_KIND_USER)).ok());
  ASSERT_TRUE(store().RevokeToken("aaaaaaaaaaaa").ok());
  ASSERT_TRUE(store().RevokeToken("aaaaaaaaaaaa").ok());  // no change, no error
  EXPECT_TRUE(store().GetToken("aaaaaaaaaaaa")->revoked);
  EXPECT_EQ(store().RevokeToken("bbbbbbbbbbbb").code(), absl::StatusCode::kNotFound);

  // Seen by another handle, as another process would.
  absl::StatusOr<std::unique_ptr<Store>> other = OpenAnother();
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_TRUE((*other)->GetToken("aaaaaaaaaaaa")->revoked);
}

TEST_P(StoreSuite, TouchRecordsLastUse) {
  ASSERT_TRUE(store().InsertToken(Token("aaaaaaaaaaaa", runyard::v1::TOKEN_KIND_USER)).ok());
  ASSERT_TRUE(store().TouchToken("aaaaaaaaaaaa", 7777).ok());
  EXPECT_EQ(store().GetToken("aaaaaaaaaaaa")->last_used_ms, 7777);
}

TEST_P(StoreSuite, DeletesOnlyExpiredTokensOfTheKindAsked) {
  TokenRecord expired = Token("run000000001", runyard::v1::TOKEN_KIND_RUN);
  expired.expires_ms = 5000;
  TokenRecord valid = Token("run000000002", runyard::v1::TOKEN_KIND_RUN);
  valid.expires_ms = 20000;
  TokenRecord forever = Token("run000000003", runyard::v1::TOKEN_KIND_RUN);
  TokenRecord expired_user = Token("user00000004", runyard::v1::TOKEN_KIND_USER);
  expired_user.expires_ms = 5000;
  for (const TokenRecord& token : {expired, valid, forever, expired_user}) {
    ASSERT_TRUE(store().InsertToken(token).ok());
  }
  absl::StatusOr<int64_t> deleted = store().DeleteExpiredTokens(runyard::v1::TOKEN_KIND_RUN, 10000);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 1);
  EXPECT_EQ(store().GetToken("run000000001").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store().GetToken("run000000002").ok());
  EXPECT_TRUE(store().GetToken("run000000003").ok());
  EXPECT_TRUE(store().GetToken("user00000004").ok());  // expired users stay listed
}

TEST_P(StoreSuite, AuditListsNewestFirstByTargetAndLimit) {
  ASSERT_TRUE(store().AppendAudit({1000, "user a", "submit", "run-1", "exp"}).ok());
  ASSERT_TRUE(store().AppendAudit({2000, "user b", "cancel", "run-1", "was Running"}).ok());
  ASSERT_TRUE(store().AppendAudit({2000, "user a", "submit", "run-2", "exp"}).ok());

  absl::StatusOr<std::vector<AuditRecord>> all = store().ListAudit("", 10);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  // Of two in one millisecond, the later written first.
  EXPECT_EQ((*all)[0].target, "run-2");
  EXPECT_EQ((*all)[1].action, "cancel");
  EXPECT_EQ((*all)[1].actor, "user b");
  EXPECT_EQ((*all)[1].detail, "was Running");
  EXPECT_EQ((*all)[1].time_ms, 2000);
  EXPECT_EQ((*all)[2].time_ms, 1000);

  absl::StatusOr<std::vector<AuditRecord>> of_run = store().ListAudit("run-1", 10);
  ASSERT_TRUE(of_run.ok()) << of_run.status();
  ASSERT_EQ(of_run->size(), 2u);
  EXPECT_EQ((*of_run)[0].action, "cancel");
  EXPECT_EQ(store().ListAudit("", 1)->size(), 1u);
  EXPECT_THAT(*store().ListAudit("run-3", 10), IsEmpty());
}

TEST_P(StoreSuite, RunSecretsAreKeptApartAndReplaced) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  ASSERT_TRUE(store().SetRunSecrets("run_1", {{"API_TOKEN", "s3cret"}, {"DB_PASSWORD", "pw"}}).ok());
  EXPECT_EQ(*store().RunSecrets("run_1"),
            (std::map<std::string, std::string>{{"API_TOKEN", "s3cret"}, {"DB_PASSWORD", "pw"}}));
  ASSERT_TRUE(store().SetRunSecrets("run_1", {{"API_TOKEN", "new"}}).ok());
  EXPECT_EQ(*store().RunSecrets("run_1"),
            (std::map<std::string, std::string>{{"API_TOKEN", "new"}}));
  EXPECT_THAT(*store().RunSecrets("run_2"), IsEmpty());

  ASSERT_TRUE(store().DeleteRunSecrets("run_1").ok());
  EXPECT_THAT(*store().RunSecrets("run_1"), IsEmpty());
}

TEST_P(StoreSuite, KeepsWhoSubmittedAndWhoCanceled) {
  runyard::v1::Run run = QueuedRun("run_1");
  run.set_submitted_by("user alice (token 0123456789ab)");
  ASSERT_TRUE(store().InsertRun(run).ok());
  EXPECT_EQ(store().GetRun("run_1")->canceled_by(), "");
  ASSERT_TRUE(store().SetCanceledBy("run_1", "user bob (token ba9876543210)").ok());

  absl::StatusOr<runyard::v1::Run> got = store().GetRun("run_1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->submitted_by(), "user alice (token 0123456789ab)");
  EXPECT_EQ(got->canceled_by(), "user bob (token ba9876543210)");
  EXPECT_EQ(store().ListRuns("", 10)->front().submitted_by(), "user alice (token 0123456789ab)");
}

TEST_P(StoreSuite, AgentKeepsItsTokenAndIdentity) {
  AgentRecord agent;
  agent.agent_id = "agent-1";
  agent.name = "node1";
  agent.pool = "gpu";
  agent.slots = 1;
  agent.registered_ms = 1000;
  agent.token_id = "0123456789ab";
  agent.identity = "agent token 0123456789ab, joined with join token ba9876543210";
  ASSERT_TRUE(store().UpsertAgent(agent).ok());

  absl::StatusOr<AgentRecord> got = store().GetAgent("agent-1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->name, "node1");
  EXPECT_EQ(got->pool, "gpu");
  EXPECT_EQ(got->token_id, "0123456789ab");
  EXPECT_EQ(got->identity, agent.identity);
  EXPECT_EQ(store().ListAgents("gpu")->front().identity, agent.identity);
  EXPECT_EQ(store().GetAgent("agent-2").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreSuite, AccessWritesJoinTransactions) {
  ASSERT_TRUE(store().InsertRun(QueuedRun("run_1")).ok());
  const absl::Status failed = store().InTransaction([](Store& txn) -> absl::Status {
    if (absl::Status s = txn.InsertToken(Token("aaaaaaaaaaaa", runyard::v1::TOKEN_KIND_RUN));
        !s.ok()) {
      return s;
    }
    if (absl::Status s = txn.SetRunSecrets("run_1", {{"A_KEY", "v"}}); !s.ok()) return s;
    if (absl::Status s = txn.AppendAudit({1, "x", "submit", "run_1", ""}); !s.ok()) return s;
    return absl::AbortedError("rolled back");
  });
  EXPECT_EQ(failed.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(store().GetToken("aaaaaaaaaaaa").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(*store().RunSecrets("run_1"), IsEmpty());
  EXPECT_THAT(*store().ListAudit("", 10), IsEmpty());
}

}  // namespace
}  // namespace runyard::server::test_support
