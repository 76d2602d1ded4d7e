#pragma once

#include <functional>

#include "absl/status/status.h"
#include "server/sqlite.h"

namespace runyard::server {

// Runs `body` between BEGIN IMMEDIATE and COMMIT on `db`: the write lock is taken first, so
// a transaction that reads then writes never fails half way on another writer. When `body`
// fails, ROLLBACK, and its error is returned; a failed COMMIT or ROLLBACK is returned too.
absl::Status InWriteTransaction(Database& db, const std::function<absl::Status()>& body);

// Runs `body` in a read transaction: its statements see one snapshot of the database, so a
// run and its history are read as one write left them.
absl::Status InReadTransaction(Database& db, const std::function<absl::Status()>& body);

}  // namespace runyard::server
