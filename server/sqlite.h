#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace runyard::server {

class Database;

// A prepared statement; binds are 1-based like SQLite's, columns 0-based. Borrowed from its
// connection's cache and handed back (reset, bindings cleared) when destroyed, so it must not
// outlive the Database that prepared it.
class Statement {
 public:
  Statement(Database* db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, std::string_view value);
  Statement& BindBlob(int index, std::string_view value);
  // Named apart from Bind: an int argument would be ambiguous between int64_t and double.
  Statement& BindDouble(int index, double value);
  Statement& BindNull(int index);

  // True while a row is available; an error throws nothing but is kept in status().
  bool Step();
  absl::Status Run();  // Step() to the end, for statements without rows
  // Makes it ready to step again from the start, keeping its bindings (an insert repeated
  // for many rows binds and runs one statement instead of borrowing one per row).
  Statement& Reset();

  int64_t Int(int column) const;
  std::string Text(int column) const;
  double Double(int column) const;
  bool IsNull(int column) const;
  const absl::Status& status() const { return status_; }

 private:
  Database* db_;
  std::string sql_;
  sqlite3_stmt* stmt_ = nullptr;
  absl::Status status_;
};

// One connection in WAL mode with a busy timeout, so several processes (the CLI in local
// mode, another CLI reading) can share a database. Not thread-safe: one thread uses it at a
// time (SqliteStore hands connections out), so SQLite's own per-connection mutex is off.
class Database {
 public:
  enum class Access {
    kReadWrite,
    kQueryOnly,  // refuses writes: a reader of the pool that is handed a write by mistake fails
  };

  static absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& path,
                                                        Access access = Access::kReadWrite);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  absl::Status Exec(std::string_view sql);
  Statement Prepare(std::string_view sql) { return Statement(this, sql); }
  // Whether a transaction is open (SQLite rolls some back by itself, on a full disk say).
  bool InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

 private:
  friend class Statement;
  explicit Database(sqlite3* db) : db_(db) {}

  // Prepared statements are kept per connection, by their SQL: preparing is most of the cost
  // of the store's short statements. A statement in use is out of the cache, so two alive at
  // once with the same SQL each get their own.
  absl::StatusOr<sqlite3_stmt*> TakeStatement(const std::string& sql);
  void ReturnStatement(std::string sql, sqlite3_stmt* stmt);

  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*> idle_statements_;
};

}  // namespace runyard::server
