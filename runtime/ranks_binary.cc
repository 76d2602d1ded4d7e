#include "runtime/ranks_binary.h"

#include <unistd.h>

#include <system_error>

namespace runyard::runtime {
namespace fs = std::filesystem;

fs::path FindRanksBinary(const fs::path& executable) {
  // <exe dir>/.. taken lexically, like the SDK's location (common/sdk_location.cc).
  const fs::path prefix = executable.parent_path().parent_path();
  for (const fs::path& candidate :
       {prefix / "lib" / executable.filename() / "runyard-ranks",
        prefix / "lib" / "runyard" / "runyard-ranks", prefix / "runtime" / "runyard-ranks"}) {
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return {};
}

fs::path FindRanksBinaryOfThisProcess() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  return FindRanksBinary(self);
}

}  // namespace runyard::runtime
