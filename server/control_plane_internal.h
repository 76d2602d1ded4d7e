// What the control plane's source files share and its header does not show.
#pragma once

#include <string>

#include "common/run_error_code.h"
#include "runyard/v1/services.pb.h"

namespace runyard::server {

// A run's error with `code` (its name, as on the wire) and `message`.
inline runyard::v1::RunError ErrorOf(common::RunErrorCode code, const std::string& message) {
  runyard::v1::RunError error;
  error.set_code(common::ToString(code));
  error.set_message(message);
  return error;
}

}  // namespace runyard::server
