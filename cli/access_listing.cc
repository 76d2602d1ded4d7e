#include "cli/access_listing.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/agent_listing.h"
#include "cli/render.h"
#include "cli/text_table.h"

namespace runyard::cli {
namespace {

nlohmann::json TimeOrNull(int64_t unix_ms) { return unix_ms > 0 ? nlohmann::json(IsoTime(unix_ms)) : nullptr; }

// The words that say what a token is for: its name, the agent or the run it is bound to.
std::string Purpose(const runyard::v1::TokenInfo& token) {
  if (!token.name().empty()) return token.name();
  if (!token.agent_name().empty()) return token.pool() + "/" + token.agent_name();
  return token.run_id();
}

}  // namespace

std::string RoleName(runyard::v1::Role role) {
  switch (role) {
    case runyard::v1::ROLE_ADMIN: return "admin";
    case runyard::v1::ROLE_USER: return "user";
    case runyard::v1::ROLE_READER: return "reader";
    default: return "";
  }
}

absl::StatusOr<runyard::v1::Role> ParseRole(const std::string& name) {
  for (runyard::v1::Role role : {runyard::v1::ROLE_ADMIN, runyard::v1::ROLE_USER, runyard::v1::ROLE_READER}) {
    if (absl::AsciiStrToLower(name) == RoleName(role)) return role;
  }
  return absl::InvalidArgumentError(absl::StrCat("role must be admin, user or reader, not '", name, "'"));
}

std::string TokenKindName(runyard::v1::TokenKind kind) {
  switch (kind) {
    case runyard::v1::TOKEN_KIND_USER: return "user";
    case runyard::v1::TOKEN_KIND_JOIN: return "join";
    case runyard::v1::TOKEN_KIND_AGENT: return "agent";
    case runyard::v1::TOKEN_KIND_RUN: return "run";
    default: return "unknown";
  }
}

std::string DescribeToken(const runyard::v1::TokenInfo& token) {
  std::string text = absl::StrCat(TokenKindName(token.kind()), " token ", token.token_id());
  if (const std::string purpose = Purpose(token); !purpose.empty()) absl::StrAppend(&text, " (", purpose, ")");
  if (token.kind() == runyard::v1::TOKEN_KIND_USER) absl::StrAppend(&text, ", role ", RoleName(token.role()));
  if (token.kind() == runyard::v1::TOKEN_KIND_JOIN) {
    absl::StrAppend(&text, token.pool().empty() ? ", for any pool" : ", for pool " + token.pool());
  }
  return text;
}

absl::StatusOr<int64_t> ParseTtlSeconds(const std::string& ttl) {
  const std::string text = absl::AsciiStrToLower(std::string(absl::StripAsciiWhitespace(ttl)));
  if (text == "never") return 0;
  int64_t unit = 1;
  std::string number = text;
  if (!number.empty()) {
    switch (number.back()) {
      case 'd': unit = 86400; break;
      case 'h': unit = 3600; break;
      case 'm': unit = 60; break;
      case 's': unit = 1; break;
      default: unit = 0; break;  // plain seconds
    }
    if (unit != 0) number.pop_back();
  }
  int64_t count = 0;
  if (!absl::SimpleAtoi(number, &count) || count < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--ttl must be a number of days, hours, minutes or seconds (30d, 12h, 45m, 90s), or never; not '", ttl, "'"));
  }
  return count * (unit == 0 ? 1 : unit);
}

nlohmann::json TokenToJson(const runyard::v1::TokenInfo& token) {
  return {{"token_id", token.token_id()},
          {"kind", TokenKindName(token.kind())},
          {"role", RoleName(token.role())},
          {"name", token.name()},
          {"pool", token.pool()},
          {"agent_name", token.agent_name()},
          {"run_id", token.run_id()},
          {"created_by", token.created_by()},
          {"created", TimeOrNull(token.created_unix_ms())},
          {"created_unix_ms", token.created_unix_ms()},
          {"expires", TimeOrNull(token.expires_unix_ms())},
          {"expires_unix_ms", token.expires_unix_ms()},
          {"last_used", TimeOrNull(token.last_used_unix_ms())},
          {"last_used_unix_ms", token.last_used_unix_ms()},
          {"revoked", token.revoked()}};
}

nlohmann::json TokensToJson(const std::vector<runyard::v1::TokenInfo>& tokens) {
  nlohmann::json json = nlohmann::json::array();
  for (const auto& token : tokens) json.push_back(TokenToJson(token));
  return json;
}

std::string TokenTable(const std::vector<runyard::v1::TokenInfo>& tokens, int64_t now_unix_ms) {
  std::vector<std::vector<std::string>> rows = {
      {"ID", "KIND", "ROLE", "NAME", "POOL", "CREATED", "EXPIRES", "LAST USED", "REVOKED"}};
  for (const auto& token : tokens) {
    const std::string role = RoleName(token.role());
    rows.push_back({token.token_id(), TokenKindName(token.kind()), role.empty() ? "-" : role,
                    Purpose(token).empty() ? "-" : Purpose(token), token.pool().empty() ? "-" : token.pool(),
                    IsoTime(token.created_unix_ms()),
                    token.expires_unix_ms() > 0 ? IsoTime(token.expires_unix_ms()) : "never",
                    token.last_used_unix_ms() > 0 ? Ago(token.last_used_unix_ms(), now_unix_ms) : "never",
                    token.revoked() ? "yes" : "no"});
  }
  return AlignedTable(rows);
}

nlohmann::json AuditToJson(const std::vector<runyard::v1::AuditEvent>& events) {
  nlohmann::json json = nlohmann::json::array();
  for (const auto& event : events) {
    json.push_back({{"time", IsoTime(event.time_unix_ms())},
                    {"time_unix_ms", event.time_unix_ms()},
                    {"actor", event.actor()},
                    {"action", event.action()},
                    {"target", event.target()},
                    {"detail", event.detail()}});
  }
  return json;
}

std::string AuditTable(const std::vector<runyard::v1::AuditEvent>& events) {
  std::vector<std::vector<std::string>> rows = {{"TIME", "ACTOR", "ACTION", "TARGET", "DETAIL"}};
  for (const auto& event : events) {
    rows.push_back({IsoTime(event.time_unix_ms()), event.actor(), event.action(),
                    event.target().empty() ? "-" : event.target(), event.detail()});
  }
  return AlignedTable(rows);
}

}  // namespace runyard::cli
