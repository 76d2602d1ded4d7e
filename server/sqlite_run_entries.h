#pragma once

// Rows of run_tags and run_properties (run_id, key, value), shared by the files of
// SqliteConnectionStore: a run's key-value maps, whichever map type holds them.

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/sqlite.h"

namespace runyard::server {

// Writes `entries` into `table` for the run, a key set again taking the new value.
template <typename Map>
absl::Status UpsertRunEntries(Database& db, const char* table, const std::string& run_id,
                              const Map& entries) {
  if (entries.empty()) return absl::OkStatus();
  Statement upsert = db.Prepare(absl::StrCat("INSERT INTO ", table,
                                             "(run_id, key, value) VALUES(?1, ?2, ?3) "
                                             "ON CONFLICT(run_id, key) DO UPDATE SET value = ?3"));
  upsert.Bind(1, run_id);
  for (const auto& [key, value] : entries) {
    if (absl::Status s = upsert.Bind(2, key).Bind(3, value).Run(); !s.ok()) return s;
    upsert.Reset();
  }
  return absl::OkStatus();
}

// Adds the run's rows of `table` to `entries`.
template <typename Map>
absl::Status LoadRunEntries(Database& db, const char* table, const std::string& run_id,
                            Map* entries) {
  Statement select =
      db.Prepare(absl::StrCat("SELECT key, value FROM ", table, " WHERE run_id = ?"));
  select.Bind(1, run_id);
  while (select.Step()) (*entries)[select.Text(0)] = select.Text(1);
  return select.status();
}

}  // namespace runyard::server
