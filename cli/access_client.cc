#include "cli/access_client.h"

#include "cli/remote_call.h"

namespace runyard::cli {

AccessClient::AccessClient(const ServerConnection& connection)
    : connection_(connection), access_(runyard::v1::Access::NewStub(OpenChannel(connection_))) {}

absl::StatusOr<runyard::v1::TokenInfo> AccessClient::WhoAmI() {
  runyard::v1::WhoAmIRequest request;
  return UnaryCall<runyard::v1::TokenInfo>(connection_,
                                           [&](auto* c, auto* r) { return access_->WhoAmI(c, request, r); });
}

absl::StatusOr<runyard::v1::CreateTokenResponse> AccessClient::CreateToken(
    const runyard::v1::CreateTokenRequest& request) {
  return UnaryCall<runyard::v1::CreateTokenResponse>(
      connection_, [&](auto* c, auto* r) { return access_->CreateToken(c, request, r); });
}

absl::StatusOr<std::vector<runyard::v1::TokenInfo>> AccessClient::ListTokens(bool include_revoked) {
  runyard::v1::ListTokensRequest request;
  request.set_include_revoked(include_revoked);
  auto response = UnaryCall<runyard::v1::ListTokensResponse>(
      connection_, [&](auto* c, auto* r) { return access_->ListTokens(c, request, r); });
  if (!response.ok()) return response.status();
  return std::vector<runyard::v1::TokenInfo>(response->tokens().begin(), response->tokens().end());
}

absl::StatusOr<runyard::v1::TokenInfo> AccessClient::RevokeToken(const std::string& token_id) {
  runyard::v1::RevokeTokenRequest request;
  request.set_token_id(token_id);
  return UnaryCall<runyard::v1::TokenInfo>(connection_,
                                           [&](auto* c, auto* r) { return access_->RevokeToken(c, request, r); });
}

absl::StatusOr<std::vector<runyard::v1::AuditEvent>> AccessClient::ListAudit(
    const runyard::v1::ListAuditRequest& request) {
  auto response = UnaryCall<runyard::v1::ListAuditResponse>(
      connection_, [&](auto* c, auto* r) { return access_->ListAudit(c, request, r); });
  if (!response.ok()) return response.status();
  return std::vector<runyard::v1::AuditEvent>(response->events().begin(), response->events().end());
}

}  // namespace runyard::cli
