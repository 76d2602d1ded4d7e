#include "cli/remote_call.h"

#include <grpc/grpc.h>
#include <grpc/support/log.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/access_listing.h"
#include "runyard/v1/services.grpc.pb.h"
#include "common/tls_diagnosis.h"

namespace runyard::cli {
namespace {

// Takes a gRPC reference that is never given back, so closing the last channel does not run
// gRPC's global shutdown, which joins its timer and executor threads (5-8 ms at the end of
// every command). The CLI leaves with _Exit (main.cc), and the threads end with it.
void KeepGrpcUntilExit() {
  static const bool kept = (grpc_init(), true);
  (void)kept;
}

// gRPC's own log lines ("Handshake failed with fatal error ...") are for its developers:
// the CLI says in its own words what a failed call means (RemoteStatus).
void SilenceGrpcLog() {
  static const bool silenced = (gpr_set_log_function([](gpr_log_func_args*) {}), true);
  (void)silenced;
}

// ", this token (from RUNYARD_TOKEN) has role reader": asked of the server only after it
// refused a call, so a denial says what the token may do; "" when it cannot be told.
std::string RoleOfToken(const ServerConnection& connection);

}  // namespace

std::shared_ptr<grpc::Channel> OpenChannel(const ServerConnection& connection) {
  SilenceGrpcLog();
  KeepGrpcUntilExit();
  return common::ServerChannel(ChannelOptionsOf(connection));
}

absl::Status RemoteStatus(const grpc::Status& status, const ServerConnection& connection) {
  if (status.ok()) return absl::OkStatus();
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  const std::string& said = status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE: {
      const std::string explained = common::ExplainConnectionFailure(ChannelOptionsOf(connection), status);
      if (absl::StrContains(explained, connection.server)) return absl::UnavailableError(explained);
      return absl::UnavailableError(
          absl::StrCat("cannot reach runyard-server at ", connection.server, ": ", explained));
    }
    case grpc::StatusCode::UNAUTHENTICATED: {
      const std::string origin =
          connection.token_origin.empty() ? "" : absl::StrCat(" (the token from ", connection.token_origin, ")");
      const std::string hint =
          absl::StrContains(said, "runyard login")
              ? ""
              : absl::StrCat("; give a valid token: `runyard login --server ", connection.server,
                             " --token-file FILE`, or RUNYARD_TOKEN");
      return absl::Status(code, absl::StrCat("UNAUTHENTICATED: ", said, origin, hint));
    }
    case grpc::StatusCode::PERMISSION_DENIED:
      return absl::Status(code, absl::StrCat("PERMISSION_DENIED: ", said, RoleOfToken(connection),
                                             "; an admin can give you a token with the role it needs "
                                             "(runyard tokens create --name NAME --role ROLE)"));
    default:
      return absl::Status(code, said);
  }
}

namespace {

std::string RoleOfToken(const ServerConnection& connection) {
  auto access = runyard::v1::Access::NewStub(OpenChannel(connection));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  runyard::v1::WhoAmIRequest request;
  runyard::v1::TokenInfo who;
  if (!access->WhoAmI(&context, request, &who).ok() || who.kind() != runyard::v1::TOKEN_KIND_USER) return "";
  const std::string origin = connection.token_origin.empty() ? "" : " (from " + connection.token_origin + ")";
  return absl::StrCat(", and this token", origin, " has role ", RoleName(who.role()));
}

}  // namespace

}  // namespace runyard::cli
