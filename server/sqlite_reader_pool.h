#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "server/sqlite.h"

namespace runyard::server {

// Query-only connections to one database, lent to one thread at a time, so that reads run in
// parallel with each other and (WAL) with the writer. Opened as needed up to `max_open`;
// beyond that a borrower waits for one to come back.
class SqliteReaderPool {
 public:
  // Hands its connection back to the pool when destroyed.
  class Lease {
   public:
    Lease(SqliteReaderPool* pool, std::unique_ptr<Database> db) : pool_(pool), db_(std::move(db)) {}
    ~Lease() {
      if (db_) pool_->Return(std::move(db_));
    }
    Lease(Lease&& other) noexcept = default;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

    Database& db() { return *db_; }

   private:
    SqliteReaderPool* pool_;
    std::unique_ptr<Database> db_;
  };

  SqliteReaderPool(std::string path, int max_open) : path_(std::move(path)), max_open_(max_open) {}

  absl::StatusOr<Lease> Borrow();

 private:
  void Return(std::unique_ptr<Database> db);

  const std::string path_;
  const int max_open_;
  std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<Database>> idle_ ABSL_GUARDED_BY(mutex_);
  int open_ ABSL_GUARDED_BY(mutex_) = 0;  // idle and lent
};

}  // namespace runyard::server
