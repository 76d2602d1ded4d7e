#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>

#include "absl/status/statusor.h"

namespace runyard::sandbox {

// The unprivileged account runs execute as.
struct RunAs {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
  std::string home;
};

// Looks a user up by name (or numeric id).
absl::StatusOr<RunAs> LookUpUser(const std::string& name);

// What the child does to itself before exec (runtime/spawn.h), after it joined its containment:
// a private /tmp (own mount namespace, a fresh tmpfs) when asked and allowed, no core
// dumps, a bounded number of open files, then the run's user and no_new_privs (so no
// setuid binary gives privileges back). Async-signal-safe; credentials change by raw
// system calls (the child shares the agent's memory).
struct ChildRestrictions {
  std::optional<RunAs> run_as;
  bool private_tmp = false;
  int64_t max_open_files = 0;  // 0: leave as is

  int Apply() const;  // 0 or an errno
};

}  // namespace runyard::sandbox
