// ControlPlane's access checks (issue 17): what an agent or run token may touch (the
// Check* the request gate makes before a call reaches the plane), and the audit. The
// tokens themselves (minting, Authenticate, revoking, the first admin) are in
// control_plane_tokens.cc.
#include <string>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "server/control_plane.h"

namespace runyard::server {
namespace {

auto Log() { return common::Logger("server"); }

absl::Status NotYours(const Identity& who, absl::string_view what) {
  return absl::PermissionDeniedError(absl::StrCat(who.Actor(), " may not ", what));
}

}  // namespace

// ------------------------------------------------------------------ what a token may touch

absl::Status ControlPlane::CheckRegister(const Identity& who,
                                         const runyard::v1::RegisterRequest& request) {
  if (who.trusted) return absl::OkStatus();
  switch (who.kind) {
    case runyard::v1::TOKEN_KIND_JOIN:
      if (!who.pool.empty() && who.pool != request.pool()) {
        return NotYours(who, absl::StrCat("register agents of pool '", request.pool(), "'"));
      }
      return absl::OkStatus();
    case runyard::v1::TOKEN_KIND_AGENT:
      if (who.pool != request.pool() || who.agent_name != request.name()) {
        return NotYours(who, absl::StrCat("register as agent ", request.pool(), "/",
                                          request.name(), ": it belongs to ", who.pool, "/",
                                          who.agent_name));
      }
      return absl::OkStatus();
    default:
      return NotYours(who, "register agents: needs a join token or an agent token");
  }
}

absl::Status ControlPlane::CheckAgent(const Identity& who, const std::string& agent_id) {
  if (who.trusted) return absl::OkStatus();
  if (who.kind != runyard::v1::TOKEN_KIND_AGENT) {
    return NotYours(who, "act as an agent: needs an agent token");
  }
  absl::StatusOr<AgentRecord> agent = store_->GetAgent(agent_id);
  // An unknown agent is told so, as Poll would: it registers again.
  if (!agent.ok()) return agent.status();
  if (agent->token_id != who.token_id || agent->pool != who.pool ||
      agent->name != who.agent_name) {
    return absl::PermissionDeniedError(absl::StrCat("agent ", agent_id, " is not yours (",
                                                    who.Actor(), ")"));
  }
  return absl::OkStatus();
}

absl::Status ControlPlane::CheckLeaseHolder(const Identity& who,
                                            const runyard::v1::Lease& lease) {
  if (who.trusted) return absl::OkStatus();
  if (who.kind == runyard::v1::TOKEN_KIND_RUN) {
    if (lease.run_id() != who.run_id) {
      return NotYours(who, absl::StrCat("write to run ", lease.run_id()));
    }
    return absl::OkStatus();
  }
  if (who.kind != runyard::v1::TOKEN_KIND_AGENT) {
    return NotYours(who, "report for a run: needs an agent token or the run's token");
  }
  // The holder of the lease as presented: the run's, or a node's of a distributed run.
  absl::StatusOr<LeaseRecord> run = store_->GetLease(lease.run_id());
  if (absl::IsNotFound(run.status())) return absl::OkStatus();  // the plane says NotFound
  if (!run.ok()) return run.status();
  std::string holder;
  if (!run->lease_id.empty() && run->lease_id == lease.lease_id()) {
    holder = run->agent_id;
  } else {
    absl::StatusOr<GangNodeRecord> node = store_->FindGangNodeByLease(lease.lease_id());
    if (!node.ok() && !absl::IsNotFound(node.status())) return node.status();
    if (node.ok() && node->run_id == lease.run_id()) holder = node->node.agent_id();
  }
  // A lease that is no longer anyone's can write nothing: the plane's fencing refuses it
  // as it always did (per item in a Report).
  if (holder.empty()) return absl::OkStatus();
  absl::StatusOr<AgentRecord> agent = store_->GetAgent(holder);
  if (!agent.ok() && !absl::IsNotFound(agent.status())) return agent.status();
  if (!agent.ok() || agent->token_id != who.token_id) {
    return absl::PermissionDeniedError(absl::StrCat("lease ", lease.lease_id(), " on run ",
                                                    lease.run_id(), " is not held by ",
                                                    who.Actor()));
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------------ audit

AuditRecord ControlPlane::AuditOf(const Identity& who, std::string action, std::string target,
                                  std::string detail) {
  return AuditRecord{clock_->NowUnixMs(), who.Actor(), std::move(action), std::move(target),
                     std::move(detail)};
}

void ControlPlane::RecordAudit(const Identity& who, std::string action, std::string target,
                               std::string detail) {
  const AuditRecord event = AuditOf(who, std::move(action), std::move(target), std::move(detail));
  if (absl::Status appended = store_->AppendAudit(event); !appended.ok()) {
    Log()->warn("audit: cannot record that {} did {} on '{}': {}", event.actor, event.action,
                event.target, appended.ToString());
  }
}

absl::StatusOr<runyard::v1::ListAuditResponse> ControlPlane::ListAudit(
    const runyard::v1::ListAuditRequest& request) {
  constexpr int kDefaultLimit = 100;
  constexpr int kMaxLimit = 10'000;
  const int limit = request.limit() > 0 ? std::min(request.limit(), kMaxLimit) : kDefaultLimit;
  ASSIGN_OR_RETURN(const std::vector<AuditRecord> events,
                   store_->ListAudit(request.target(), limit));
  runyard::v1::ListAuditResponse response;
  for (const AuditRecord& event : events) {
    runyard::v1::AuditEvent* out = response.add_events();
    out->set_time_unix_ms(event.time_ms);
    out->set_actor(event.actor);
    out->set_action(event.action);
    out->set_target(event.target);
    out->set_detail(event.detail);
  }
  return response;
}

}  // namespace runyard::server
