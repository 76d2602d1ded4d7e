#include "server/sqlite_transaction.h"

#include <string_view>

#include "absl/strings/str_cat.h"

namespace runyard::server {
namespace {

absl::Status InTransaction(Database& db, std::string_view begin,
                           const std::function<absl::Status()>& body) {
  // Prepared (and so cached by the connection) rather than Exec'd: a read of one run is
  // BEGIN, two SELECTs and COMMIT, and parsing BEGIN and COMMIT each time cost as much.
  if (absl::Status s = db.Prepare(begin).Run(); !s.ok()) return s;
  absl::Status result = body();
  if (result.ok()) {
    result = db.Prepare("COMMIT").Run();
    if (result.ok()) return result;
  }
  // SQLite ends some transactions itself on an error (a full disk, say); a failed COMMIT
  // (busy) leaves it open. One left open would make the connection's next BEGIN fail.
  if (!db.InTransaction()) return result;
  absl::Status rolled_back = db.Prepare("ROLLBACK").Run();
  if (rolled_back.ok()) return result;
  return absl::Status(
      result.code(),
      absl::StrCat(result.message(), "; then ROLLBACK failed: ", rolled_back.message()));
}

}  // namespace

absl::Status InWriteTransaction(Database& db, const std::function<absl::Status()>& body) {
  return InTransaction(db, "BEGIN IMMEDIATE", body);
}

absl::Status InReadTransaction(Database& db, const std::function<absl::Status()>& body) {
  return InTransaction(db, "BEGIN", body);
}

}  // namespace runyard::server
