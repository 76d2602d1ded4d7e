#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace runyard::common {

// Checks a relative path that came from outside (an archive entry, a request): no
// absolute path, no "." or ".." component, no empty component, no NUL, bounded length.
// Returned error messages name the path.
absl::Status CheckRelativePath(std::string_view path);

// The run-history folders a file may live in: outputs/, logs/, user_logs/, system_logs/.
absl::Status CheckRunFilePath(std::string_view path);

}  // namespace runyard::common
