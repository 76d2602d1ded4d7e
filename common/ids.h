#pragma once

#include <cstddef>
#include <string>

namespace runyard::common {

// `count` random bytes from the OS's CSPRNG (getrandom(2)).
std::string RandomBytes(size_t count);

// Random hex of `bytes` bytes from the OS's CSPRNG.
std::string RandomHex(int bytes);

// Short ids a user can type: "run-3f9a1c2e".
std::string NewRunId();
std::string NewAgentId();
std::string NewLeaseId();

}  // namespace runyard::common
