#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Early returns for absl::Status / absl::StatusOr, in the style of LevelDB and Abseil users.
#define RUNYARD_CONCAT_INNER(a, b) a##b
#define RUNYARD_CONCAT(a, b) RUNYARD_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                  \
  do {                                         \
    ::absl::Status _runyard_status = (expr);   \
    if (!_runyard_status.ok()) return _runyard_status; \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(*tmp)

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(RUNYARD_CONCAT(_runyard_statusor_, __LINE__), lhs, expr)
