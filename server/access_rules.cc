#include "server/access_rules.h"

#include <array>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace runyard::server {
namespace {

using runyard::v1::ROLE_ADMIN;
using runyard::v1::ROLE_READER;
using runyard::v1::ROLE_USER;
using Kinds = AccessRule::Kinds;

// A function with defaults rather than aggregate initialization: most rules name only a
// role.
constexpr AccessRule Rule(std::string_view method, std::string_view what, runyard::v1::Role role,
                          Kinds kinds = {}, ResourceCheck check = ResourceCheck::kNone) {
  AccessRule rule;
  rule.method = method;
  rule.what = what;
  rule.role = role;
  rule.kinds = kinds;
  rule.check = check;
  return rule;
}

constexpr Kinds kAgent{.agent = true};
constexpr Kinds kAgentOrRun{.agent = true, .run = true};

// Readers read; users also submit, cancel, tag, archive and upload the blobs of their
// snapshots; admins may do everything, the Access service included. Agents and runs use
// their own tokens for their own work only: a join token registers an agent of its pool,
// an agent token serves that agent (its polls, its leases' writes, the blobs of the runs
// it is handed), a run token writes that run's status and files and nothing else.
constexpr std::array kRules{
    // ---- Cas
    // Tells only whether blobs exist, as fetching them does: a read.
    Rule("/runyard.v1.Cas/FindMissingBlobs", "look up blobs", ROLE_READER),
    Rule("/runyard.v1.Cas/BatchUploadBlobs", "upload blobs", ROLE_USER),
    Rule("/runyard.v1.Cas/UploadBlob", "upload blobs", ROLE_USER),
    Rule("/runyard.v1.Cas/GetUploadOffset", "upload blobs", ROLE_USER),
    Rule("/runyard.v1.Cas/FetchBlob", "fetch blobs", ROLE_READER, kAgent),
    Rule("/runyard.v1.Cas/FetchBlobs", "fetch blobs", ROLE_READER, kAgent),
    Rule("/runyard.v1.Cas/GetSnapshotLimits", "read the snapshot limits", ROLE_READER, kAgent),
    // ---- Runs
    Rule("/runyard.v1.Runs/Submit", "submit runs", ROLE_USER),
    Rule("/runyard.v1.Runs/Get", "read runs", ROLE_READER),
    Rule("/runyard.v1.Runs/List", "list runs", ROLE_READER),
    Rule("/runyard.v1.Runs/Cancel", "cancel runs", ROLE_USER),
    Rule("/runyard.v1.Runs/Watch", "watch runs", ROLE_READER),
    Rule("/runyard.v1.Runs/ListFiles", "list run files", ROLE_READER),
    Rule("/runyard.v1.Runs/ReadFile", "read run files", ROLE_READER),
    Rule("/runyard.v1.Runs/ListAgents", "list agents", ROLE_READER),
    Rule("/runyard.v1.Runs/GetMetrics", "read metrics", ROLE_READER),
    Rule("/runyard.v1.Runs/SetTags", "tag runs", ROLE_USER),
    Rule("/runyard.v1.Runs/ListExperiments", "list experiments", ROLE_READER),
    Rule("/runyard.v1.Runs/SetExperimentArchived", "archive experiments", ROLE_USER),
    // ---- Agents
    Rule("/runyard.v1.Agents/Register", "register agents", ROLE_ADMIN,
         Kinds{.join = true, .agent = true}, ResourceCheck::kRegister),
    Rule("/runyard.v1.Agents/Poll", "poll for runs", ROLE_ADMIN, kAgent, ResourceCheck::kOwnAgent),
    Rule("/runyard.v1.Agents/UpdateStatus", "report run status", ROLE_ADMIN, kAgentOrRun,
         ResourceCheck::kLease),
    Rule("/runyard.v1.Agents/Append", "write run files", ROLE_ADMIN, kAgentOrRun,
         ResourceCheck::kLease),
    Rule("/runyard.v1.Agents/Report", "report runs", ROLE_ADMIN, kAgentOrRun,
         ResourceCheck::kReportLeases),
    // ---- Access
    Rule("/runyard.v1.Access/CreateToken", "create tokens", ROLE_ADMIN),
    Rule("/runyard.v1.Access/ListTokens", "list tokens", ROLE_ADMIN),
    Rule("/runyard.v1.Access/RevokeToken", "revoke tokens", ROLE_ADMIN),
    Rule("/runyard.v1.Access/WhoAmI", "ask who it is", ROLE_READER),
    Rule("/runyard.v1.Access/ListAudit", "read the audit log", ROLE_ADMIN),
};

// Higher is more: admin 3, user 2, reader 1, none 0.
int Rank(runyard::v1::Role role) {
  switch (role) {
    case ROLE_ADMIN:
      return 3;
    case ROLE_USER:
      return 2;
    case ROLE_READER:
      return 1;
    default:
      return 0;
  }
}

const char* RoleName(runyard::v1::Role role) {
  switch (role) {
    case ROLE_ADMIN:
      return "admin";
    case ROLE_USER:
      return "user";
    case ROLE_READER:
      return "reader";
    default:
      return "none";
  }
}

}  // namespace

std::span<const AccessRule> AccessRules() { return kRules; }

const AccessRule* FindAccessRule(std::string_view full_method) {
  for (const AccessRule& rule : kRules) {
    if (rule.method == full_method) return &rule;
  }
  return nullptr;
}

bool KindAllowed(const AccessRule& rule, const Identity& identity) {
  if (identity.trusted) return true;
  switch (identity.kind) {
    case runyard::v1::TOKEN_KIND_USER:
      return rule.role != runyard::v1::ROLE_UNSPECIFIED && Rank(identity.role) >= Rank(rule.role);
    case runyard::v1::TOKEN_KIND_JOIN:
      return rule.kinds.join;
    case runyard::v1::TOKEN_KIND_AGENT:
      return rule.kinds.agent;
    case runyard::v1::TOKEN_KIND_RUN:
      return rule.kinds.run;
    default:
      return false;
  }
}

std::string Needs(const AccessRule& rule) {
  std::vector<std::string> ways;
  if (rule.kinds.join) ways.push_back("a join token");
  if (rule.kinds.agent) ways.push_back("an agent token");
  if (rule.kinds.run) ways.push_back("a run token");
  if (rule.role != runyard::v1::ROLE_UNSPECIFIED) {
    ways.push_back(absl::StrCat("role ", RoleName(rule.role)));
  }
  if (ways.empty()) return "nothing allows it";
  if (ways.size() == 1) return ways.front();
  const std::string last = ways.back();
  ways.pop_back();
  return absl::StrCat(absl::StrJoin(ways, ", "), " or ", last);
}

}  // namespace runyard::server
