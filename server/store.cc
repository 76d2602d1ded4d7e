#include "server/store.h"

#include "server/sqlite_store.h"

namespace runyard::server {

// SQLite is the one implementation so far; another (PostgreSQL) would be chosen here by the
// form of `path`.
absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  absl::StatusOr<std::unique_ptr<SqliteStore>> store = SqliteStore::Open(path);
  if (!store.ok()) return store.status();
  return std::unique_ptr<Store>(std::move(*store));
}

}  // namespace runyard::server
