#include "common/access_token.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/digest.h"
#include "common/ids.h"

namespace runyard::common {
namespace {

constexpr char kFormat[] = "ry<kind>_<12 hex id>_<43 character secret>";

char KindLetter(runyard::v1::TokenKind kind) {
  switch (kind) {
    case runyard::v1::TOKEN_KIND_USER: return 'u';
    case runyard::v1::TOKEN_KIND_JOIN: return 'j';
    case runyard::v1::TOKEN_KIND_AGENT: return 'a';
    case runyard::v1::TOKEN_KIND_RUN: return 'r';
    default: return '?';
  }
}

runyard::v1::TokenKind KindOfLetter(char letter) {
  switch (letter) {
    case 'u': return runyard::v1::TOKEN_KIND_USER;
    case 'j': return runyard::v1::TOKEN_KIND_JOIN;
    case 'a': return runyard::v1::TOKEN_KIND_AGENT;
    case 'r': return runyard::v1::TOKEN_KIND_RUN;
    default: return runyard::v1::TOKEN_KIND_UNSPECIFIED;
  }
}


bool IsLowerHex(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsBase64Url(std::string_view text) {
  for (char c : text) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '_')) {
      return false;
    }
  }
  return true;
}

absl::Status Malformed(absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("malformed token: ", why, " (a token looks like ", kFormat, ")"));
}

}  // namespace

AccessToken NewAccessToken(runyard::v1::TokenKind kind) {
  AccessToken token;
  token.kind = kind;
  token.token_id = RandomHex(static_cast<int>(kTokenIdLength / 2));
  token.secret = absl::WebSafeBase64Escape(RandomBytes(32));  // 43 characters, unpadded
  return token;
}

std::string FormatAccessToken(const AccessToken& token) {
  return absl::StrCat("ry", std::string(1, KindLetter(token.kind)), "_", token.token_id, "_",
                      token.secret);
}

absl::StatusOr<AccessToken> ParseAccessToken(std::string_view text) {
  constexpr size_t kLength = 3 + 1 + kTokenIdLength + 1 + kTokenSecretLength;
  if (text.size() != kLength) {
    return Malformed(absl::StrCat(text.size(), " characters instead of ", kLength));
  }
  if (text.substr(0, 2) != "ry") return Malformed("it does not start with 'ry'");
  AccessToken token;
  token.kind = KindOfLetter(text[2]);
  if (token.kind == runyard::v1::TOKEN_KIND_UNSPECIFIED) {
    return Malformed("unknown kind letter (u, j, a or r)");
  }
  if (text[3] != '_' || text[4 + kTokenIdLength] != '_') {
    return Malformed("'_' missing between its parts");
  }
  const std::string_view id = text.substr(4, kTokenIdLength);
  const std::string_view secret = text.substr(5 + kTokenIdLength);
  if (!IsLowerHex(id)) return Malformed("its id is not lowercase hex");
  if (!IsBase64Url(secret)) return Malformed("its secret is not base64url");
  token.token_id = std::string(id);
  token.secret = std::string(secret);
  return token;
}

std::string SecretSha256(std::string_view secret) { return Sha256Hex(secret); }

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char differences = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    differences |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return differences == 0;
}

}  // namespace runyard::common
