#pragma once

#include <chrono>
#include <memory>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "cli/server_connection.h"

namespace runyard::cli {

// The channel to the connection's server: TLS unless insecure, the token on every call.
std::shared_ptr<grpc::Channel> OpenChannel(const ServerConnection& connection);

// A failed call as the user should read it. UNAVAILABLE: what is wrong with the connection
// (TLS against plaintext, a certificate the CA does not vouch for, nothing listening),
// found only now that a call failed. UNAUTHENTICATED and PERMISSION_DENIED: the server's
// words and what to do (log in; ask for a token with the role it names). The code stays.
absl::Status RemoteStatus(const grpc::Status& status, const ServerConnection& connection);

// One unary call with a deadline; `call(context, response)` makes it.
template <typename Response, typename Call>
absl::StatusOr<Response> UnaryCall(const ServerConnection& connection, Call call) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  Response response;
  if (grpc::Status status = call(&context, &response); !status.ok()) return RemoteStatus(status, connection);
  return response;
}

}  // namespace runyard::cli
