#pragma once

#include <string>

#include "runyard/v1/services.pb.h"

namespace runyard::server {

// Who made a request, as the server learned it from the request's token (server/
// request_gate.h). The control plane decides with it what the request may touch.
struct Identity {
  runyard::v1::TokenKind kind = runyard::v1::TOKEN_KIND_UNSPECIFIED;
  runyard::v1::Role role = runyard::v1::ROLE_UNSPECIFIED;  // user tokens
  std::string token_id;
  std::string name;        // the token's name ("alice", "ci")
  std::string pool;        // join and agent tokens ("" on a join token: any pool)
  std::string agent_name;  // agent tokens
  std::string run_id;      // run tokens
  // Local mode (the CLI's embedded plane on the user's own machine): nothing to check.
  bool trusted = false;

  static Identity Local() {
    Identity local;
    local.trusted = true;
    local.name = "local";
    return local;
  }

  // How logs, the audit and Run.submitted_by name it: "user alice (token 1a2b3c4d5e6f)",
  // "agent gpu/node1 (token ...)", "join token for pool gpu (token ...)", "run <id>'s
  // token (...)", "local".
  std::string Actor() const {
    if (trusted) return name;
    const std::string token = " (token " + token_id + ")";
    switch (kind) {
      case runyard::v1::TOKEN_KIND_USER: return "user " + name + token;
      case runyard::v1::TOKEN_KIND_AGENT: return "agent " + pool + "/" + agent_name + token;
      case runyard::v1::TOKEN_KIND_JOIN:
        return "join token for " + (pool.empty() ? std::string("any pool") : "pool " + pool) + token;
      case runyard::v1::TOKEN_KIND_RUN: return "run " + run_id + "'s token" + token;
      default: return "unknown" + token;
    }
  }
};

}  // namespace runyard::server
