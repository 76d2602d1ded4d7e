#pragma once

#include <string>

namespace runyard::common {

// Random hex of `bytes` bytes from the OS's CSPRNG.
std::string RandomHex(int bytes);

// Short ids a user can type: "run-3f9a1c2e".
std::string NewRunId();
std::string NewAgentId();
std::string NewLeaseId();

}  // namespace runyard::common
