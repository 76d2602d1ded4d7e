#pragma once

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "cli/server_connection.h"
#include "runyard/v1/services.grpc.pb.h"

namespace runyard::cli {

// The server's Access service: who the token is, tokens, the audit log.
class AccessClient {
 public:
  explicit AccessClient(const ServerConnection& connection);

  absl::StatusOr<runyard::v1::TokenInfo> WhoAmI();
  absl::StatusOr<runyard::v1::CreateTokenResponse> CreateToken(const runyard::v1::CreateTokenRequest& request);
  absl::StatusOr<std::vector<runyard::v1::TokenInfo>> ListTokens(bool include_revoked);
  absl::StatusOr<runyard::v1::TokenInfo> RevokeToken(const std::string& token_id);
  absl::StatusOr<std::vector<runyard::v1::AuditEvent>> ListAudit(const runyard::v1::ListAuditRequest& request);

 private:
  const ServerConnection connection_;
  std::unique_ptr<runyard::v1::Access::Stub> access_;
};

}  // namespace runyard::cli
