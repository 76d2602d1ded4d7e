// SqliteConnectionStore's part for access (issue 17): the tokens, audit and run_secrets
// tables, and who canceled a run.

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/sqlite_connection_store.h"

namespace runyard::server {
namespace {

constexpr char kTokenColumns[] =
    "token_id, kind, role, name, pool, agent_name, run_id, secret_sha256, created_ms, "
    "expires_ms, revoked, created_by, last_used_ms";

TokenRecord TokenFromRow(const Statement& row) {
  TokenRecord token;
  token.token_id = row.Text(0);
  token.kind = static_cast<runyard::v1::TokenKind>(row.Int(1));
  token.role = static_cast<runyard::v1::Role>(row.Int(2));
  token.name = row.Text(3);
  token.pool = row.Text(4);
  token.agent_name = row.Text(5);
  token.run_id = row.Text(6);
  token.secret_sha256 = row.Text(7);
  token.created_ms = row.Int(8);
  token.expires_ms = row.Int(9);
  token.revoked = row.Int(10) != 0;
  token.created_by = row.Text(11);
  token.last_used_ms = row.Int(12);
  return token;
}

absl::Status TokenNotFound(const std::string& token_id) {
  return absl::NotFoundError(absl::StrCat("token ", token_id, " is not known"));
}

// Rows the connection's last statement changed.
absl::StatusOr<int64_t> Changes(Database& db) {
  Statement changes = db.Prepare("SELECT changes()");
  if (!changes.Step()) {
    RETURN_IF_ERROR(changes.status());
    return absl::InternalError("SELECT changes() returned no row");
  }
  return changes.Int(0);
}

}  // namespace

absl::Status SqliteConnectionStore::InsertToken(const TokenRecord& token) {
  return InTransaction([&](Store&) -> absl::Status {
    Statement taken = db_.Prepare("SELECT 1 FROM tokens WHERE token_id = ?");
    taken.Bind(1, token.token_id);
    if (taken.Step()) {
      return absl::AlreadyExistsError(absl::StrCat("token id ", token.token_id, " is taken"));
    }
    RETURN_IF_ERROR(taken.status());
    Statement insert = db_.Prepare(absl::StrCat(
        "INSERT INTO tokens(", kTokenColumns,
        ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"));
    insert.Bind(1, token.token_id)
        .Bind(2, static_cast<int64_t>(token.kind))
        .Bind(3, static_cast<int64_t>(token.role))
        .Bind(4, token.name)
        .Bind(5, token.pool)
        .Bind(6, token.agent_name)
        .Bind(7, token.run_id)
        .Bind(8, token.secret_sha256)
        .Bind(9, token.created_ms)
        .Bind(10, token.expires_ms)
        .Bind(11, token.revoked ? 1 : 0)
        .Bind(12, token.created_by)
        .Bind(13, token.last_used_ms);
    return insert.Run();
  });
}

absl::StatusOr<TokenRecord> SqliteConnectionStore::GetToken(const std::string& token_id) {
  Statement select =
      db_.Prepare(absl::StrCat("SELECT ", kTokenColumns, " FROM tokens WHERE token_id = ?"));
  select.Bind(1, token_id);
  if (!select.Step()) {
    RETURN_IF_ERROR(select.status());
    return TokenNotFound(token_id);
  }
  return TokenFromRow(select);
}

absl::StatusOr<std::vector<TokenRecord>> SqliteConnectionStore::ListTokens(
    bool include_revoked, bool include_run_tokens) {
  // By kind, so that the index skips the run tokens (one per hand-out) unless asked: ?4 is
  // the run kind then, else the user kind again.
  Statement select = db_.Prepare(absl::StrCat(
      "SELECT ", kTokenColumns,
      " FROM tokens WHERE kind IN (?1, ?2, ?3, ?4) AND (?5 OR revoked = 0) "
      "ORDER BY created_ms, token_id"));
  select.Bind(1, static_cast<int64_t>(runyard::v1::TOKEN_KIND_USER))
      .Bind(2, static_cast<int64_t>(runyard::v1::TOKEN_KIND_JOIN))
      .Bind(3, static_cast<int64_t>(runyard::v1::TOKEN_KIND_AGENT))
      .Bind(4, static_cast<int64_t>(include_run_tokens ? runyard::v1::TOKEN_KIND_RUN
                                                       : runyard::v1::TOKEN_KIND_USER))
      .Bind(5, include_revoked ? 1 : 0);
  std::vector<TokenRecord> tokens;
  while (select.Step()) tokens.push_back(TokenFromRow(select));
  RETURN_IF_ERROR(select.status());
  return tokens;
}

absl::Status SqliteConnectionStore::RevokeToken(const std::string& token_id) {
  return InTransaction([&](Store&) -> absl::Status {
    Statement update = db_.Prepare("UPDATE tokens SET revoked = 1 WHERE token_id = ?");
    RETURN_IF_ERROR(update.Bind(1, token_id).Run());
    ASSIGN_OR_RETURN(const int64_t changed, Changes(db_));
    return changed == 0 ? TokenNotFound(token_id) : absl::OkStatus();
  });
}

absl::Status SqliteConnectionStore::TouchToken(const std::string& token_id, int64_t now_ms) {
  Statement update = db_.Prepare("UPDATE tokens SET last_used_ms = ? WHERE token_id = ?");
  return update.Bind(1, now_ms).Bind(2, token_id).Run();
}

absl::StatusOr<int64_t> SqliteConnectionStore::DeleteExpiredTokens(runyard::v1::TokenKind kind,
                                                                   int64_t now_ms) {
  int64_t deleted = 0;
  RETURN_IF_ERROR(InTransaction([&](Store&) -> absl::Status {
    Statement erase = db_.Prepare(
        "DELETE FROM tokens WHERE kind = ? AND expires_ms > 0 AND expires_ms < ?");
    RETURN_IF_ERROR(erase.Bind(1, static_cast<int64_t>(kind)).Bind(2, now_ms).Run());
    ASSIGN_OR_RETURN(deleted, Changes(db_));
    return absl::OkStatus();
  }));
  return deleted;
}

absl::Status SqliteConnectionStore::AppendAudit(const AuditRecord& event) {
  Statement insert = db_.Prepare(
      "INSERT INTO audit(time_ms, actor, action, target, detail) VALUES(?, ?, ?, ?, ?)");
  insert.Bind(1, event.time_ms)
      .Bind(2, event.actor)
      .Bind(3, event.action)
      .Bind(4, event.target)
      .Bind(5, event.detail);
  return insert.Run();
}

absl::StatusOr<std::vector<AuditRecord>> SqliteConnectionStore::ListAudit(
    const std::string& target, int limit) {
  // Two shapes of query, so that a target's events come from its index.
  constexpr char kColumns[] = "SELECT time_ms, actor, action, target, detail FROM audit";
  Statement select = db_.Prepare(
      target.empty()
          ? absl::StrCat(kColumns, " ORDER BY time_ms DESC, rowid DESC LIMIT ?1")
          : absl::StrCat(kColumns, " WHERE target = ?2 ORDER BY time_ms DESC, rowid DESC LIMIT ?1"));
  select.Bind(1, static_cast<int64_t>(limit));
  if (!target.empty()) select.Bind(2, target);
  std::vector<AuditRecord> events;
  while (select.Step()) {
    events.push_back(AuditRecord{select.Int(0), select.Text(1), select.Text(2), select.Text(3),
                                 select.Text(4)});
  }
  RETURN_IF_ERROR(select.status());
  return events;
}

absl::Status SqliteConnectionStore::SetRunSecrets(
    const std::string& run_id, const std::map<std::string, std::string>& values) {
  return InTransaction([&](Store&) -> absl::Status {
    RETURN_IF_ERROR(DeleteRunSecrets(run_id));
    Statement insert =
        db_.Prepare("INSERT INTO run_secrets(run_id, name, value) VALUES(?, ?, ?)");
    for (const auto& [name, value] : values) {
      RETURN_IF_ERROR(insert.Bind(1, run_id).Bind(2, name).Bind(3, value).Run());
      insert.Reset();
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::map<std::string, std::string>> SqliteConnectionStore::RunSecrets(
    const std::string& run_id) {
  Statement select = db_.Prepare("SELECT name, value FROM run_secrets WHERE run_id = ?");
  select.Bind(1, run_id);
  std::map<std::string, std::string> values;
  while (select.Step()) values[select.Text(0)] = select.Text(1);
  RETURN_IF_ERROR(select.status());
  return values;
}

absl::Status SqliteConnectionStore::DeleteRunSecrets(const std::string& run_id) {
  Statement erase = db_.Prepare("DELETE FROM run_secrets WHERE run_id = ?");
  return erase.Bind(1, run_id).Run();
}

absl::Status SqliteConnectionStore::SetCanceledBy(const std::string& run_id,
                                                  const std::string& actor) {
  Statement update = db_.Prepare("UPDATE runs SET canceled_by = ? WHERE run_id = ?");
  return update.Bind(1, actor).Bind(2, run_id).Run();
}

}  // namespace runyard::server
