#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "runyard/v1/services.pb.h"

namespace runyard::common {

// An access token as it travels: "ry<k>_<token_id>_<secret>", k = u (user), j (join),
// a (agent), r (run); token_id is 12 lowercase hex characters (public: listed, logged,
// audited), secret 43 base64url characters (32 random bytes). The server keeps only
// SecretSha256(secret), so a stolen database holds no usable token.
struct AccessToken {
  runyard::v1::TokenKind kind = runyard::v1::TOKEN_KIND_UNSPECIFIED;
  std::string token_id;
  std::string secret;
};

inline constexpr size_t kTokenIdLength = 12;
inline constexpr size_t kTokenSecretLength = 43;

// A new token of `kind` (USER, JOIN, AGENT or RUN) from the kernel's CSPRNG.
AccessToken NewAccessToken(runyard::v1::TokenKind kind);

std::string FormatAccessToken(const AccessToken& token);

// InvalidArgument naming what is wrong with `text` (never repeating the text: it may be
// someone's secret pasted in the wrong place).
absl::StatusOr<AccessToken> ParseAccessToken(std::string_view text);

// SHA-256 of the secret, 64 lowercase hex characters: what the store keeps.
std::string SecretSha256(std::string_view secret);

// Equality whose time depends on the lengths only, not on where the first difference is:
// comparing a presented secret's hash must not tell an attacker how much of it matched.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace runyard::common
