// ControlPlane's tokens (issue 17): minting (user, join, agent and run tokens), who
// presents a token (Authenticate), creating, listing and revoking them, and the first
// admin token. Run tokens are minted at hand-out (control_plane_agents.cc,
// control_plane_gang.cc); revoked agents are cut off in control_plane_leases.cc. What a
// token may touch is in control_plane_access.cc.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/access_token.h"
#include "common/logging.h"
#include "common/spec_yaml.h"
#include "common/status_macros.h"
#include "server/control_plane.h"

namespace runyard::server {
namespace {

auto Log() { return common::Logger("server"); }

// Last used is a hint for `runyard tokens list`, not a log: one write a minute at most,
// so that a busy agent's calls do not each write.
constexpr int64_t kLastUsedResolutionMs = 60'000;
// A run token outlives the run's deadline by this much: its last uploads and its final
// status come after the deadline stopped it.
constexpr int64_t kRunTokenGraceMs = 3'600'000;

std::string UtcTime(int64_t unix_ms) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S UTC", &utc);
  return text;
}

std::string RoleName(runyard::v1::Role role) {
  switch (role) {
    case runyard::v1::ROLE_ADMIN: return "admin";
    case runyard::v1::ROLE_USER: return "user";
    case runyard::v1::ROLE_READER: return "reader";
    default: return "none";
  }
}

std::string Describe(const TokenRecord& token) {
  switch (token.kind) {
    case runyard::v1::TOKEN_KIND_USER:
      return absl::StrCat("user token '", token.name, "' (role ", RoleName(token.role), ")");
    case runyard::v1::TOKEN_KIND_JOIN:
      return absl::StrCat("join token '", token.name, "' for ",
                          token.pool.empty() ? "any pool" : "pool " + token.pool);
    case runyard::v1::TOKEN_KIND_AGENT:
      return absl::StrCat("agent token of ", token.pool, "/", token.agent_name);
    case runyard::v1::TOKEN_KIND_RUN: return absl::StrCat("run token of ", token.run_id);
    default: return "token";
  }
}

runyard::v1::TokenInfo InfoOf(const TokenRecord& token) {
  runyard::v1::TokenInfo info;
  info.set_token_id(token.token_id);
  info.set_kind(token.kind);
  info.set_role(token.role);
  info.set_name(token.name);
  info.set_pool(token.pool);
  info.set_agent_name(token.agent_name);
  info.set_run_id(token.run_id);
  info.set_created_unix_ms(token.created_ms);
  info.set_expires_unix_ms(token.expires_ms);
  info.set_revoked(token.revoked);
  info.set_created_by(token.created_by);
  info.set_last_used_unix_ms(token.last_used_ms);
  return info;
}

Identity IdentityOf(const TokenRecord& token) {
  Identity who;
  who.kind = token.kind;
  who.role = token.role;
  who.token_id = token.token_id;
  who.name = token.name;
  who.pool = token.pool;
  who.agent_name = token.agent_name;
  who.run_id = token.run_id;
  return who;
}

// What TokenRecord.created_by says of `by`: its token id ("local" in local mode).
std::string CreatorOf(const Identity& by) { return by.trusted ? by.name : by.token_id; }


}  // namespace

// ------------------------------------------------------------------ tokens

ControlPlane::MintedToken ControlPlane::MintToken(runyard::v1::TokenKind kind, std::string name,
                                                  std::string created_by, int64_t expires_ms) {
  const common::AccessToken token = common::NewAccessToken(kind);
  MintedToken minted;
  minted.token = common::FormatAccessToken(token);
  TokenRecord& record = minted.record;
  record.token_id = token.token_id;
  record.kind = kind;
  record.name = std::move(name);
  record.secret_sha256 = common::SecretSha256(token.secret);
  record.created_ms = clock_->NowUnixMs();
  record.expires_ms = expires_ms;
  record.created_by = std::move(created_by);
  return minted;
}

ControlPlane::MintedToken ControlPlane::MintRunToken(const std::string& run_id,
                                                     const std::string& agent_id,
                                                     int64_t max_run_seconds) {
  // The run's deadline as the runtime enforces it (the default when the spec has none).
  const int64_t run_ms =
      (max_run_seconds > 0 ? max_run_seconds : common::kDefaultMaxRunDurationSeconds) * 1000;
  MintedToken minted =
      MintToken(runyard::v1::TOKEN_KIND_RUN, absl::StrCat("run ", run_id),
                absl::StrCat("agent:", agent_id), clock_->NowUnixMs() + run_ms + kRunTokenGraceMs);
  minted.record.run_id = run_id;
  return minted;
}

absl::StatusOr<Identity> ControlPlane::Authenticate(std::string_view bearer_token) {
  absl::string_view text =
      absl::StripAsciiWhitespace(absl::string_view(bearer_token.data(), bearer_token.size()));
  if (absl::StartsWithIgnoreCase(text, "bearer ")) {
    text = absl::StripLeadingAsciiWhitespace(text.substr(7));
  }
  if (text.empty()) {
    return absl::UnauthenticatedError(
        "no token: this server needs one (runyard login, or RUNYARD_TOKEN)");
  }
  absl::StatusOr<common::AccessToken> presented =
      common::ParseAccessToken(std::string_view(text.data(), text.size()));
  if (!presented.ok()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "bad token: ", absl::StripPrefix(presented.status().message(), "malformed token: ")));
  }
  absl::StatusOr<TokenRecord> token = store_->GetToken(presented->token_id);
  const std::string not_known = absl::StrCat("token ", presented->token_id, " is not known");
  if (absl::IsNotFound(token.status())) return absl::UnauthenticatedError(not_known);
  if (!token.ok()) return token.status();  // the store did not answer: not the client's fault
  // The hash is compared whatever the kind, so that timing tells nothing.
  const bool secret_matches =
      common::ConstantTimeEquals(common::SecretSha256(presented->secret), token->secret_sha256);
  if (!secret_matches || token->kind != presented->kind) {
    return absl::UnauthenticatedError(not_known);
  }
  if (token->revoked) {
    return absl::UnauthenticatedError(absl::StrCat("token ", token->token_id, " was revoked"));
  }
  const int64_t now = clock_->NowUnixMs();
  if (token->expires_ms > 0 && now >= token->expires_ms) {
    return absl::UnauthenticatedError(
        absl::StrCat("token ", token->token_id, " expired at ", UtcTime(token->expires_ms)));
  }
  if (now - token->last_used_ms >= kLastUsedResolutionMs) {
    if (absl::Status touched = store_->TouchToken(token->token_id, now); !touched.ok()) {
      Log()->warn("token {}: cannot record its use: {}", token->token_id, touched.ToString());
    }
  }
  return IdentityOf(*token);
}

absl::StatusOr<runyard::v1::CreateTokenResponse> ControlPlane::CreateToken(
    const Identity& by, const runyard::v1::CreateTokenRequest& request) {
  if (request.ttl_seconds() < 0) {
    return absl::InvalidArgumentError("create token: ttl_seconds is negative (0: never expires)");
  }
  std::string name = request.name();
  switch (request.kind()) {
    case runyard::v1::TOKEN_KIND_USER:
      if (request.role() == runyard::v1::ROLE_UNSPECIFIED) {
        return absl::InvalidArgumentError(
            "create token: a user token needs a role (admin, user or reader)");
      }
      if (name.empty()) {
        return absl::InvalidArgumentError(
            "create token: a user token needs a name (who or what it is for)");
      }
      break;
    case runyard::v1::TOKEN_KIND_JOIN:
      if (name.empty()) {
        name = request.pool().empty() ? "join for any pool" : "join for pool " + request.pool();
      }
      break;
    default:
      return absl::InvalidArgumentError(
          "create token: the kind must be user or join (an agent gets its token by registering "
          "with a join token, a run its token when it is handed out)");
  }
  const int64_t expires_ms =
      request.ttl_seconds() > 0 ? clock_->NowUnixMs() + request.ttl_seconds() * 1000 : 0;
  MintedToken minted = MintToken(request.kind(), std::move(name), CreatorOf(by), expires_ms);
  if (request.kind() == runyard::v1::TOKEN_KIND_USER) minted.record.role = request.role();
  if (request.kind() == runyard::v1::TOKEN_KIND_JOIN) minted.record.pool = request.pool();
  RETURN_IF_ERROR(store_->InTransaction([&](Store& txn) -> absl::Status {
    RETURN_IF_ERROR(txn.InsertToken(minted.record));
    return txn.AppendAudit(
        AuditOf(by, "create_token", minted.record.token_id, Describe(minted.record)));
  }));
  Log()->info("token {} created by {}: {}", minted.record.token_id, by.Actor(),
              Describe(minted.record));
  runyard::v1::CreateTokenResponse response;
  *response.mutable_info() = InfoOf(minted.record);
  response.set_token(std::move(minted.token));
  return response;
}

absl::StatusOr<runyard::v1::ListTokensResponse> ControlPlane::ListTokens(
    const runyard::v1::ListTokensRequest& request) {
  ASSIGN_OR_RETURN(const std::vector<TokenRecord> tokens,
                   store_->ListTokens(request.include_revoked(), /*include_run_tokens=*/false));
  runyard::v1::ListTokensResponse response;
  for (const TokenRecord& token : tokens) *response.add_tokens() = InfoOf(token);
  return response;
}

absl::StatusOr<runyard::v1::TokenInfo> ControlPlane::RevokeToken(const Identity& by,
                                                                 const std::string& token_id) {
  ASSIGN_OR_RETURN(TokenRecord token, store_->GetToken(token_id));
  const bool was_revoked = token.revoked;
  if (!was_revoked) {
    RETURN_IF_ERROR(store_->RevokeToken(token_id));
    token.revoked = true;
  }
  if (token.kind == runyard::v1::TOKEN_KIND_AGENT) {
    // Again when it was revoked already: a revoke cut short ends what it left.
    std::lock_guard lock(mutex_);
    RETURN_IF_ERROR(CutOffAgentLocked(token, by));
  }
  if (!was_revoked) {
    RecordAudit(by, "revoke_token", token_id, Describe(token));
    Log()->info("token {} revoked by {}: {}", token_id, by.Actor(), Describe(token));
  }
  return InfoOf(token);
}

runyard::v1::TokenInfo ControlPlane::WhoAmI(const Identity& who) {
  if (!who.trusted) {
    absl::StatusOr<TokenRecord> token = store_->GetToken(who.token_id);
    if (token.ok()) return InfoOf(*token);
  }
  // Local mode, or a store that does not answer: what the request's identity says.
  runyard::v1::TokenInfo info;
  info.set_token_id(who.token_id);
  info.set_kind(who.kind);
  info.set_role(who.role);
  info.set_name(who.name);
  info.set_pool(who.pool);
  info.set_agent_name(who.agent_name);
  info.set_run_id(who.run_id);
  return info;
}

// ------------------------------------------------------------------ the first admin

absl::Status ControlPlane::EnsureBootstrapAdmin(const std::filesystem::path& token_file) {
  ASSIGN_OR_RETURN(const std::vector<TokenRecord> tokens,
                   store_->ListTokens(/*include_revoked=*/false, /*include_run_tokens=*/false));
  const int64_t now = clock_->NowUnixMs();
  for (const TokenRecord& token : tokens) {
    if (token.kind == runyard::v1::TOKEN_KIND_USER && token.role == runyard::v1::ROLE_ADMIN &&
        (token.expires_ms == 0 || token.expires_ms > now)) {
      return absl::OkStatus();
    }
  }
  const std::filesystem::path parent = token_file.parent_path();
  if (!parent.empty() && !std::filesystem::exists(parent)) {
    std::error_code error;
    std::filesystem::create_directories(parent, error);
    if (error) {
      return absl::InternalError(absl::StrCat("cannot create ", parent.string(),
                                              " for the admin token: ", error.message()));
    }
    std::filesystem::permissions(parent, std::filesystem::perms::owner_all, error);
  }
  // Exclusive: a file already there is someone's (an old token, a typo'd path), never
  // overwritten.
  const int fd = ::open(token_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int error = errno;
    if (error == EEXIST) {
      return absl::FailedPreconditionError(absl::StrCat(
          "no admin token is valid, and ", token_file.string(),
          " exists already: move it away so that a new admin token can be written there "
          "(server option admin_token_file)"));
    }
    return absl::InternalError(absl::StrCat("cannot create the admin token file ",
                                            token_file.string(), ": ", std::strerror(error)));
  }
  bool written = false;
  absl::Cleanup close_file = [&] {
    ::close(fd);
    if (!written) ::unlink(token_file.c_str());
  };
  MintedToken minted = MintToken(runyard::v1::TOKEN_KIND_USER, "bootstrap admin", "bootstrap", 0);
  minted.record.role = runyard::v1::ROLE_ADMIN;
  const std::string line = minted.token + "\n";
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t wrote = ::write(fd, line.data() + done, line.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0) {
      return absl::InternalError(absl::StrCat("cannot write the admin token to ",
                                              token_file.string(), ": ", std::strerror(errno)));
    }
    done += static_cast<size_t>(wrote);
  }
  if (::fsync(fd) != 0) {
    return absl::InternalError(absl::StrCat("cannot write the admin token to ",
                                            token_file.string(), ": ", std::strerror(errno)));
  }
  // Stored only once the file holds it: a token nobody can read would lock nobody in, but
  // would keep the next start from writing one.
  Identity bootstrap = Identity::Local();
  bootstrap.name = "bootstrap";
  RETURN_IF_ERROR(store_->InTransaction([&](Store& txn) -> absl::Status {
    RETURN_IF_ERROR(txn.InsertToken(minted.record));
    return txn.AppendAudit(
        AuditOf(bootstrap, "create_token", minted.record.token_id, Describe(minted.record)));
  }));
  written = true;
  Log()->info("no admin token was valid: a new one is in {} (readable by this user only)",
              token_file.string());
  return absl::OkStatus();
}

}  // namespace runyard::server
