#include "server/request_gate.h"

#include <set>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/access_token.h"
#include "common/request_limits.h"
#include "server/peer_address.h"

namespace runyard::server {
namespace {

constexpr absl::string_view kBearer = "bearer ";  // the scheme, any case

// The token of an `authorization: Bearer <token>` entry; "" with none. A present entry of
// another form is refused rather than read as no token.
absl::StatusOr<std::string> BearerToken(const std::vector<std::string>& entries) {
  if (entries.empty()) return std::string();
  if (entries.size() > 1) {
    return absl::UnauthenticatedError(
        absl::StrCat("the call carries ", entries.size(), " authorization entries: send one"));
  }
  const std::string_view value = entries.front();
  if (value.size() <= kBearer.size() ||
      !absl::StartsWithIgnoreCase(absl::string_view(value.data(), value.size()), kBearer)) {
    return absl::UnauthenticatedError("the authorization metadata is not 'Bearer <token>'");
  }
  const std::string_view rest = value.substr(kBearer.size());
  return std::string(absl::StripAsciiWhitespace(absl::string_view(rest.data(), rest.size())));
}

// Who sent a call whose token was refused, for the audit: the token id it named when it
// is well formed (ids are public), never more of it.
Identity Unauthenticated(std::string_view token) {
  Identity who;
  who.name = "unauthenticated";
  absl::StatusOr<common::AccessToken> parsed = common::ParseAccessToken(token);
  who.token_id = parsed.ok() ? parsed->token_id : "none";
  return who;
}

std::string RateText(double rate) {
  return rate == static_cast<double>(static_cast<int64_t>(rate))
             ? absl::StrCat(static_cast<int64_t>(rate))
             : absl::StrCat(rate);
}

using LeaseKey = std::tuple<std::string, std::string, int64_t>;

}  // namespace

RequestGate::RequestGate(ControlPlane* plane, GateOptions options)
    : plane_(plane), limiter_(options.max_requests_per_second, options.clock) {}

absl::StatusOr<Identity> RequestGate::Admit(grpc::ServerContext* context,
                                            std::string_view full_method,
                                            const google::protobuf::Message* request) {
  CallFacts call;
  call.peer = context->peer();
  const auto& metadata = context->client_metadata();
  for (auto [it, end] = metadata.equal_range("authorization"); it != end; ++it) {
    call.authorization.emplace_back(it->second.data(), it->second.size());
  }
  return Admit(call, full_method, request);
}

absl::StatusOr<Identity> RequestGate::Admit(const CallFacts& call, std::string_view full_method,
                                            const google::protobuf::Message* request) {
  absl::StatusOr<std::string> token = BearerToken(call.authorization);
  absl::StatusOr<Identity> who =
      token.ok() ? plane_->Authenticate(*token) : absl::StatusOr<Identity>(token.status());
  if (!who.ok()) {
    // Calls without a valid token are limited per peer address, so that a flood of bad
    // tokens cannot flood the audit.
    const Identity unknown = Unauthenticated(token.ok() ? *token : "");
    const std::string peer = PeerAddress(call.peer);
    if (absl::Status limited = RateLimited(unknown, full_method, "peer " + peer); !limited.ok())
      return limited;
    return Denied(unknown, full_method,
                  absl::Status(who.status().code(),
                               absl::StrCat(who.status().message(),
                                            peer.empty() ? "" : " (from " + peer + ")")));
  }
  if (absl::Status limited = RateLimited(*who, full_method, "token " + who->token_id);
      !limited.ok())
    return limited;
  const AccessRule* rule = FindAccessRule(full_method);
  if (rule == nullptr) {
    return Denied(*who, full_method,
                  absl::PermissionDeniedError(absl::StrCat("method ", std::string(full_method),
                                                           " has no access rule: refused")));
  }
  if (!KindAllowed(*rule, *who)) {
    return Denied(
        *who, full_method,
        absl::PermissionDeniedError(absl::StrCat(who->Actor(), " may not ", std::string(rule->what),
                                                 ": needs ", Needs(*rule))));
  }
  if (request != nullptr) {
    if (absl::Status limits = common::CheckRequestLimits(full_method, *request); !limits.ok())
      return limits;
  }
  if (absl::Status owned = CheckResources(*rule, *who, request); !owned.ok())
    return Denied(*who, full_method, owned);
  return who;
}

absl::Status RequestGate::CheckStreamMessage(std::string_view full_method,
                                             const google::protobuf::Message& message) {
  return common::CheckRequestLimits(full_method, message);
}

absl::Status RequestGate::RateLimited(const Identity& who, std::string_view full_method,
                                      std::string_view key) {
  const RateLimiter::Decision decision = limiter_.Take(key);
  if (decision.allowed) return absl::OkStatus();
  absl::Status refusal = absl::ResourceExhaustedError(absl::StrCat(
      "rate limit: ", who.Actor(), " made more than ", RateText(limiter_.rate_per_second()),
      " requests/s (server option max_requests_per_second)"));
  if (decision.first_refusal)
    plane_->RecordAudit(who, "denied", std::string(full_method), std::string(refusal.message()));
  return refusal;
}

absl::Status RequestGate::Denied(const Identity& who, std::string_view full_method,
                                 absl::Status refusal) {
  plane_->RecordAudit(who, "denied", std::string(full_method), std::string(refusal.message()));
  return refusal;
}

absl::Status RequestGate::CheckResources(const AccessRule& rule, const Identity& who,
                                         const google::protobuf::Message* request) {
  // A user token's role decided already (only admins reach the agents' methods).
  if (who.trusted || who.kind == runyard::v1::TOKEN_KIND_USER) return absl::OkStatus();
  if (rule.check == ResourceCheck::kNone) return absl::OkStatus();
  if (request == nullptr)
    return absl::InternalError(absl::StrCat(std::string(rule.method), ": no request"));
  switch (rule.check) {
    case ResourceCheck::kNone:
      return absl::OkStatus();
    case ResourceCheck::kRegister:
      if (auto* r = dynamic_cast<const runyard::v1::RegisterRequest*>(request))
        return plane_->CheckRegister(who, *r);
      break;
    case ResourceCheck::kOwnAgent:
      if (auto* r = dynamic_cast<const runyard::v1::PollRequest*>(request))
        return plane_->CheckAgent(who, r->agent_id());
      break;
    case ResourceCheck::kLease:
      if (auto* r = dynamic_cast<const runyard::v1::UpdateStatusRequest*>(request))
        return plane_->CheckLeaseHolder(who, r->lease());
      if (auto* r = dynamic_cast<const runyard::v1::AppendRequest*>(request))
        return plane_->CheckLeaseHolder(who, r->lease());
      break;
    case ResourceCheck::kReportLeases:
      if (auto* r = dynamic_cast<const runyard::v1::ReportRequest*>(request)) {
        // A report carries many items of one lease: each lease is checked once.
        std::set<LeaseKey> checked;
        for (const runyard::v1::ReportItem& item : r->items()) {
          const runyard::v1::Lease* lease = item.has_append()   ? &item.append().lease()
                                            : item.has_status() ? &item.status().lease()
                                                                : nullptr;
          if (lease == nullptr) continue;  // an empty item: the plane refuses it
          if (!checked.emplace(lease->run_id(), lease->lease_id(), lease->fencing_token()).second)
            continue;
          if (absl::Status held = plane_->CheckLeaseHolder(who, *lease); !held.ok()) return held;
        }
        return absl::OkStatus();
      }
      break;
  }
  return absl::InternalError(
      absl::StrCat(std::string(rule.method), ": the request is a ", request->GetTypeName()));
}

}  // namespace runyard::server
