#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace runyard::server {

// A prepared statement; binds are 1-based like SQLite's, columns 0-based.
class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, std::string_view value);
  Statement& BindBlob(int index, std::string_view value);

  // True while a row is available; an error throws nothing but is kept in status().
  bool Step();
  absl::Status Run();  // Step() to the end, for statements without rows

  int64_t Int(int column) const;
  std::string Text(int column) const;
  const absl::Status& status() const { return status_; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  absl::Status status_;
};

// One connection in WAL mode with a busy timeout, so several processes (the CLI in local
// mode, another CLI reading) can share a database.
class Database {
 public:
  static absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& path);
  ~Database();

  absl::Status Exec(std::string_view sql);
  Statement Prepare(std::string_view sql) { return Statement(db_, sql); }

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

}  // namespace runyard::server
