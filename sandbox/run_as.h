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

// What the child does to itself between fork and exec, after it joined its containment:
// a private /tmp (own mount namespace, a fresh tmpfs) when asked and allowed, no core
// dumps, a bounded number of open files, then the run's user and no_new_privs (so no
// setuid binary gives privileges back). Async-signal-safe.
struct ChildRestrictions {
  std::optional<RunAs> run_as;
  bool private_tmp = false;
  int64_t max_open_files = 0;  // 0: leave as is

  int Apply() const;  // 0 or an errno

  // const: Boost.Process looks the hook up on the initializer as passed (a const member
  // of the request), and silently skips a non-const one.
  template <typename Launcher>
  std::error_code on_exec_setup(Launcher&, const auto&, const auto&) const {
    if (int error = Apply(); error != 0) return std::error_code(error, std::system_category());
    return {};
  }
};

}  // namespace runyard::sandbox
