// `runyard tokens create|list|revoke`: the server's tokens (an admin's commands). A new
// token is shown once, or written to a 0600 file for scripts; the server keeps only its hash.
#include <filesystem>
#include <iostream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "cli/access_client.h"
#include "cli/access_listing.h"
#include "cli/command_support.h"
#include "cli/commands.h"
#include "cli/render.h"
#include "common/clock.h"
#include "common/private_file.h"

namespace runyard::cli {

absl::StatusOr<runyard::v1::CreateTokenRequest> BuildCreateTokenRequest(const TokenCreateOptions& options) {
  runyard::v1::CreateTokenRequest request;
  if (options.name.empty()) return absl::InvalidArgumentError("--name is required: who or what the token is for");
  request.set_name(options.name);
  if (options.join == !options.role.empty()) {
    return absl::InvalidArgumentError("give --role admin|user|reader (a user token) or --join (agents), one of them");
  }
  if (options.join) {
    request.set_kind(runyard::v1::TOKEN_KIND_JOIN);
    request.set_pool(options.pool);
  } else {
    if (!options.pool.empty()) return absl::InvalidArgumentError("--pool goes with --join");
    absl::StatusOr<runyard::v1::Role> role = ParseRole(options.role);
    if (!role.ok()) return role.status();
    request.set_kind(runyard::v1::TOKEN_KIND_USER);
    request.set_role(*role);
  }
  if (!options.ttl.empty()) {
    absl::StatusOr<int64_t> ttl = ParseTtlSeconds(options.ttl);
    if (!ttl.ok()) return ttl.status();
    request.set_ttl_seconds(*ttl);
  }
  return request;
}

namespace {

std::string ExpiryText(const runyard::v1::TokenInfo& info) {
  return info.expires_unix_ms() > 0 ? "expires " + IsoTime(info.expires_unix_ms()) : "never expires";
}

}  // namespace

int TokensCreateCommand(const GlobalOptions& global, const TokenCreateOptions& options) {
  absl::StatusOr<runyard::v1::CreateTokenRequest> request = BuildCreateTokenRequest(options);
  if (!request.ok()) return Fail(request.status());
  if (std::error_code ec; !options.output_file.empty() && std::filesystem::exists(options.output_file, ec)) {
    // Checked before the token is made; the write below refuses it again if one appears meanwhile.
    return Fail(absl::AlreadyExistsError(options.output_file + " exists: remove it first (a token file is never replaced)"));
  }
  absl::StatusOr<std::unique_ptr<AccessClient>> access = ConnectAccess(global);
  if (!access.ok()) return Fail(access.status());
  absl::StatusOr<runyard::v1::CreateTokenResponse> created = (*access)->CreateToken(*request);
  if (!created.ok()) return Fail(created.status());
  nlohmann::json json = TokenToJson(created->info());
  if (!options.output_file.empty()) {
    if (absl::Status written = common::WritePrivateFile(options.output_file, created->token() + "\n",
                                                        /*overwrite=*/false);
        !written.ok()) {
      return Fail(absl::Status(written.code(), absl::StrCat(written.message(), "; token ",
                                                            created->info().token_id(),
                                                            " was made: revoke it (runyard tokens revoke ID)")));
    }
    json["file"] = options.output_file;
  } else {
    json["token"] = created->token();
  }
  if (global.json) {
    PrintJson(json);
    return 0;
  }
  std::cerr << "runyard: created " << DescribeToken(created->info()) << ", " << ExpiryText(created->info());
  if (!options.output_file.empty()) {
    std::cerr << "; written to " << options.output_file << " (0600)\n";
  } else {
    // stdout holds the token alone, so `TOKEN=$(runyard tokens create ...)` works.
    std::cerr << "; shown this once:\n";
    std::cout << created->token() << "\n";
  }
  return 0;
}

int TokensListCommand(const GlobalOptions& global, bool include_revoked) {
  absl::StatusOr<std::unique_ptr<AccessClient>> access = ConnectAccess(global);
  if (!access.ok()) return Fail(access.status());
  absl::StatusOr<std::vector<runyard::v1::TokenInfo>> tokens = (*access)->ListTokens(include_revoked);
  if (!tokens.ok()) return Fail(tokens.status());
  if (global.json) {
    PrintJson(TokensToJson(*tokens));
  } else if (tokens->empty()) {
    std::cerr << "runyard: no tokens" << (include_revoked ? "" : " (revoked ones show with --all)") << "\n";
  } else {
    std::cout << TokenTable(*tokens, common::NowUnixMs()) << std::flush;
  }
  return 0;
}

int TokensRevokeCommand(const GlobalOptions& global, const std::string& token_id) {
  absl::StatusOr<std::unique_ptr<AccessClient>> access = ConnectAccess(global);
  if (!access.ok()) return Fail(access.status());
  absl::StatusOr<runyard::v1::TokenInfo> revoked = (*access)->RevokeToken(token_id);
  if (!revoked.ok()) return Fail(revoked.status());
  if (global.json) {
    PrintJson(TokenToJson(*revoked));
  } else {
    std::cout << "revoked " << DescribeToken(*revoked) << "\n";
  }
  return 0;
}

}  // namespace runyard::cli
