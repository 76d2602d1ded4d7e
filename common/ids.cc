#include "common/ids.h"

#include <sys/random.h>

#include <cerrno>
#include <stdexcept>
#include <vector>

#include "absl/strings/escaping.h"

namespace runyard::common {

std::string RandomHex(int bytes) {
  // getrandom(2) rather than OpenSSL's RAND_bytes: the kernel's CSPRNG is as good for ids, and
  // instantiating OpenSSL's DRBG cost every CLI command some 3 million instructions.
  std::vector<unsigned char> raw(static_cast<size_t>(bytes));
  size_t filled = 0;
  while (filled < raw.size()) {
    const ssize_t got = getrandom(raw.data() + filled, raw.size() - filled, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw std::runtime_error("getrandom failed");
    filled += static_cast<size_t>(got);
  }
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
}

std::string NewRunId() { return "run-" + RandomHex(4); }
std::string NewAgentId() { return "agent-" + RandomHex(4); }
std::string NewLeaseId() { return RandomHex(8); }

}  // namespace runyard::common
