#include "common/sdk_location.h"

#include <system_error>

namespace runyard::common {
namespace fs = std::filesystem;

fs::path FindSdkPythonDir(const fs::path& executable) {
  // <exe dir>/.. taken lexically: the binary's folder is all that has to exist.
  const fs::path prefix = executable.parent_path().parent_path();
  for (const fs::path candidate :
       {prefix / "share" / "runyard" / "python", prefix / "sdk" / "python"}) {
    std::error_code ec;
    if (fs::is_regular_file(candidate / "runyard" / "__init__.py", ec)) return candidate;
  }
  return {};
}

fs::path FindSdkPythonDirOfThisProcess() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  return FindSdkPythonDir(self);
}

}  // namespace runyard::common
