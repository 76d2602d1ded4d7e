#pragma once

#include "absl/status/status.h"
#include "server/sqlite.h"

namespace runyard::server {

// Creates the store's tables on a new database and adds the columns of later releases to an
// old one. Safe when several processes open the same database at once.
absl::Status MigrateSchema(Database& db);

}  // namespace runyard::server
