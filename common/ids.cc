#include "common/ids.h"

#include <openssl/rand.h>

#include <vector>

namespace runyard::common {

std::string RandomHex(int bytes) {
  std::vector<unsigned char> raw(static_cast<size_t>(bytes));
  RAND_bytes(raw.data(), bytes);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : raw) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

std::string NewRunId() { return "run-" + RandomHex(4); }
std::string NewAgentId() { return "agent-" + RandomHex(4); }
std::string NewLeaseId() { return RandomHex(8); }

}  // namespace runyard::common
