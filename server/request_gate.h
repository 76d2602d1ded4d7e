#pragma once

#include <grpcpp/grpcpp.h>

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "google/protobuf/message.h"
#include "server/access_rules.h"
#include "server/control_plane.h"
#include "server/identity.h"
#include "server/rate_limiter.h"

namespace runyard::server {

struct GateOptions {
  // Per identity (a token; a peer address for calls without a valid one), as a token
  // bucket with a burst of twice this; 0: no limit. Server option max_requests_per_second.
  double max_requests_per_second = 2000;
  common::Clock* clock = common::Clock::Real();
};

// What the gate needs to know of one call (the gRPC context gives it in production).
struct CallFacts {
  std::vector<std::string> authorization;  // every `authorization` metadata entry
  std::string peer;                        // grpc::ServerContext::peer()
};

// The one place every RPC is checked, before its handler does anything (server/
// grpc_services.cc): the caller's token (`authorization: Bearer <token>` metadata, checked
// by the control plane), its rate, the access rule of the method (server/access_rules.h)
// with the resource check it names, and the generic request limits
// (common/request_limits.h). Refusals: UNAUTHENTICATED (no token, a bad one), RESOURCE_
// EXHAUSTED (the rate), PERMISSION_DENIED ("<actor> may not <what>: needs role user"),
// INVALID_ARGUMENT (a limit). Every refusal of access is recorded in the audit (action
// "denied"); of a flood over the rate, the first.
class RequestGate {
 public:
  RequestGate(ControlPlane* plane, GateOptions options = {});

  // `full_method` as gRPC names it ("/runyard.v1.Runs/Submit"); `request` null for a
  // client stream (its messages are checked as they are read: CheckStreamMessage).
  absl::StatusOr<Identity> Admit(grpc::ServerContext* context, std::string_view full_method,
                                 const google::protobuf::Message* request);
  absl::StatusOr<Identity> Admit(const CallFacts& call, std::string_view full_method,
                                 const google::protobuf::Message* request);

  // One message of a client stream of `full_method`: the request limits only.
  absl::Status CheckStreamMessage(std::string_view full_method,
                                  const google::protobuf::Message& message);

 private:
  // Records the refusal (action "denied", target the method) and returns it.
  absl::Status Denied(const Identity& who, std::string_view full_method, absl::Status refusal);
  absl::Status CheckResources(const AccessRule& rule, const Identity& who,
                              const google::protobuf::Message* request);
  absl::Status RateLimited(const Identity& who, std::string_view full_method, std::string_view key);

  ControlPlane* plane_;
  RateLimiter limiter_;
};

}  // namespace runyard::server
