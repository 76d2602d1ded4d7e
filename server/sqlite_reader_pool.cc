#include "server/sqlite_reader_pool.h"

#include <utility>

namespace runyard::server {

absl::StatusOr<SqliteReaderPool::Lease> SqliteReaderPool::Borrow() {
  {
    std::unique_lock lock(mutex_);
    returned_.wait(lock, [&] { return !idle_.empty() || open_ < max_open_; });
    if (!idle_.empty()) {
      std::unique_ptr<Database> db = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(db));
    }
    ++open_;
  }
  // Opened outside the lock: opening reads the file, and other borrowers need not wait on it.
  absl::StatusOr<std::unique_ptr<Database>> db =
      Database::Open(path_, Database::Access::kQueryOnly);
  if (!db.ok()) {
    std::lock_guard lock(mutex_);
    --open_;
    returned_.notify_one();
    return db.status();
  }
  return Lease(this, std::move(*db));
}

void SqliteReaderPool::Return(std::unique_ptr<Database> db) {
  std::lock_guard lock(mutex_);
  // A connection left in a transaction (its ROLLBACK failed) is closed, not lent again.
  if (db->InTransaction()) {
    --open_;
  } else {
    idle_.push_back(std::move(db));
  }
  returned_.notify_one();
}

}  // namespace runyard::server
