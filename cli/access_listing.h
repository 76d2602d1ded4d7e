#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "runyard/v1/services.pb.h"

namespace runyard::cli {

// "admin", "user", "reader"; "" for none. And back: InvalidArgument for another word.
std::string RoleName(runyard::v1::Role role);
absl::StatusOr<runyard::v1::Role> ParseRole(const std::string& name);
// "user", "join", "agent", "run".
std::string TokenKindName(runyard::v1::TokenKind kind);

// "user token 1a2b3c4d5e6f (alice), role admin" / "agent token ... (gpu/node-1)": who a
// token is, for whoami and the lines that confirm a change. Never the secret.
std::string DescribeToken(const runyard::v1::TokenInfo& token);

// A --ttl: "30d", "12h", "45m", "90s" or plain seconds; "0" or "never": no expiry.
absl::StatusOr<int64_t> ParseTtlSeconds(const std::string& ttl);

// [{token_id, kind, role, name, pool, agent_name, run_id, created_by, created,
//   created_unix_ms, expires (null: never), expires_unix_ms, last_used (null: never),
//   last_used_unix_ms, revoked}]: names as words, times as ISO text and unix ms.
nlohmann::json TokenToJson(const runyard::v1::TokenInfo& token);
nlohmann::json TokensToJson(const std::vector<runyard::v1::TokenInfo>& tokens);
// ID / KIND / ROLE / NAME / POOL / CREATED / EXPIRES / LAST USED / REVOKED.
std::string TokenTable(const std::vector<runyard::v1::TokenInfo>& tokens, int64_t now_unix_ms);

// [{time, time_unix_ms, actor, action, target, detail}], newest first as the server gave them.
nlohmann::json AuditToJson(const std::vector<runyard::v1::AuditEvent>& events);
// TIME / ACTOR / ACTION / TARGET / DETAIL.
std::string AuditTable(const std::vector<runyard::v1::AuditEvent>& events);

}  // namespace runyard::cli
