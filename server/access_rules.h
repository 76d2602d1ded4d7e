#pragma once

#include <span>
#include <string>
#include <string_view>

#include "server/identity.h"

namespace runyard::server {

// What must hold of a request's content besides who sent it: the control plane's
// resource checks (server/control_plane.h), asked of join, agent and run tokens only (a
// user token's role decides alone).
enum class ResourceCheck {
  kNone,
  kRegister,      // CheckRegister: the join token's pool, the agent token's pool and name
  kOwnAgent,      // CheckAgent on PollRequest.agent_id
  kLease,         // CheckLeaseHolder on the request's lease (UpdateStatus, Append)
  kReportLeases,  // CheckLeaseHolder on each lease of a Report's items
};

// Who may call one method of services.proto.
struct AccessRule {
  std::string_view method;  // "/runyard.v1.Runs/Submit"
  std::string_view what;    // "submit runs", for "<actor> may not submit runs: needs role user"
  // The least role a user token needs (admin > user > reader); ROLE_UNSPECIFIED: no user
  // token may.
  runyard::v1::Role role = runyard::v1::ROLE_UNSPECIFIED;
  struct Kinds {
    bool join = false;
    bool agent = false;
    bool run = false;
  } kinds;  // the other token kinds that may
  ResourceCheck check = ResourceCheck::kNone;
};

// Every rule: one per method of the services Cas, Runs, Agents and Access.
std::span<const AccessRule> AccessRules();
// The rule of `full_method`; nullptr when it has none (the gate refuses such a call).
const AccessRule* FindAccessRule(std::string_view full_method);
// Whether `identity`'s kind (and a user token's role) may call under `rule`.
bool KindAllowed(const AccessRule& rule, const Identity& identity);
// What the rule asks for, in words: "role user", "an agent token, a run token or role admin".
std::string Needs(const AccessRule& rule);

}  // namespace runyard::server
