// The store suite (tests/unit/store_suite.h) run on SqliteStore: a database file in the
// test's folder.

#include "server/sqlite_store.h"
#include "tests/unit/store_suite.h"

namespace runyard::server::test_support {
namespace {

absl::StatusOr<std::unique_ptr<Store>> OpenSqlite(const std::filesystem::path& dir) {
  absl::StatusOr<std::unique_ptr<SqliteStore>> store =
      SqliteStore::Open((dir / "runyard.db").string());
  if (!store.ok()) return store.status();
  return std::unique_ptr<Store>(std::move(*store));
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreSuite, ::testing::Values(StoreFactory{"Sqlite", &OpenSqlite}),
                         StoreFactoryName);

}  // namespace
}  // namespace runyard::server::test_support
