#include "server/sqlite.h"

#include <memory>

#include "absl/strings/str_cat.h"

namespace runyard::server {

Statement::Statement(Database* db, std::string_view sql) : db_(db), sql_(sql) {
  absl::StatusOr<sqlite3_stmt*> stmt = db->TakeStatement(sql_);
  if (stmt.ok()) {
    stmt_ = *stmt;
  } else {
    status_ = stmt.status();
  }
}

Statement::~Statement() {
  if (stmt_) db_->ReturnStatement(std::move(sql_), stmt_);
}

Statement& Statement::Bind(int index, int64_t value) {
  if (stmt_) sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::Bind(int index, std::string_view value) {
  if (stmt_) {
    sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  }
  return *this;
}

Statement& Statement::BindBlob(int index, std::string_view value) {
  if (stmt_) {
    sqlite3_bind_blob(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  }
  return *this;
}

Statement& Statement::BindDouble(int index, double value) {
  if (stmt_) sqlite3_bind_double(stmt_, index, value);
  return *this;
}

Statement& Statement::BindNull(int index) {
  if (stmt_) sqlite3_bind_null(stmt_, index);
  return *this;
}

Statement& Statement::Reset() {
  // Its result repeats the last step's error, which status() already holds.
  if (stmt_) sqlite3_reset(stmt_);
  return *this;
}

bool Statement::Step() {
  if (!stmt_ || !status_.ok()) return false;
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) {
    status_ = absl::InternalError(absl::StrCat("sqlite: ", sqlite3_errmsg(db_->db_)));
  }
  return false;
}

absl::Status Statement::Run() {
  while (Step()) {
  }
  return status_;
}

int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

double Statement::Double(int column) const { return sqlite3_column_double(stmt_, column); }

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::string Statement::Text(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);
  return data ? std::string(static_cast<const char*>(data), static_cast<size_t>(size))
              : std::string();
}

absl::StatusOr<std::unique_ptr<Database>> Database::Open(const std::string& path, Access access) {
  sqlite3* db = nullptr;
  // NOMUTEX: a connection is used by one thread at a time (see the class comment).
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat("cannot open database ", path, ": ", message));
  }
  sqlite3_busy_timeout(db, 10000);
  auto database = std::unique_ptr<Database>(new Database(db));
  if (absl::Status s = database->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
      !s.ok()) {
    return s;
  }
  if (access == Access::kQueryOnly) {
    if (absl::Status s = database->Exec("PRAGMA query_only=1"); !s.ok()) return s;
  }
  return database;
}

Database::~Database() {
  for (auto& [sql, stmt] : idle_statements_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);  // _v2: never fails; frees once the last statement is gone
}

absl::Status Database::Exec(std::string_view sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : sqlite3_errmsg(db_);
    sqlite3_free(error);
    return absl::InternalError(absl::StrCat("sqlite: ", message));
  }
  return absl::OkStatus();
}

absl::StatusOr<sqlite3_stmt*> Database::TakeStatement(const std::string& sql) {
  if (auto idle = idle_statements_.extract(sql)) return idle.mapped();
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &stmt, nullptr) != SQLITE_OK) {
    return absl::InternalError(absl::StrCat("sqlite prepare: ", sqlite3_errmsg(db_), " in: ", sql));
  }
  return stmt;
}

void Database::ReturnStatement(std::string sql, sqlite3_stmt* stmt) {
  // Reset ends the statement's read of the database (a cached statement left mid-step would
  // hold its snapshot open); its result repeats the last step's error, already reported.
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  if (!idle_statements_.try_emplace(std::move(sql), stmt).second) sqlite3_finalize(stmt);
}

}  // namespace runyard::server
