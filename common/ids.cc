#include "common/ids.h"

#include <sys/random.h>

#include <cerrno>
#include <stdexcept>
#include <vector>

#include "absl/strings/escaping.h"

namespace runyard::common {

std::string RandomBytes(size_t count) {
  // getrandom(2) rather than OpenSSL's RAND_bytes: the kernel's CSPRNG is as good for ids and
  // secrets, and instantiating OpenSSL's DRBG cost every CLI command some 3 million instructions.
  std::string raw(count, '\0');
  size_t filled = 0;
  while (filled < raw.size()) {
    const ssize_t got = getrandom(raw.data() + filled, raw.size() - filled, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw std::runtime_error("getrandom failed");
    filled += static_cast<size_t>(got);
  }
  return raw;
}

std::string RandomHex(int bytes) {
  return absl::BytesToHexString(RandomBytes(static_cast<size_t>(bytes)));
}

std::string NewRunId() { return "run-" + RandomHex(4); }
std::string NewAgentId() { return "agent-" + RandomHex(4); }
std::string NewLeaseId() { return RandomHex(8); }

}  // namespace runyard::common
