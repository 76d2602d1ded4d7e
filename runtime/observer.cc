#include "runtime/observer.h"

#include "runtime/file_range.h"

namespace runyard::runtime {

bool RunObserver::OnFileRange(const std::string& path, const std::filesystem::path& source, int64_t offset,
                              int64_t length) {
  constexpr int64_t kPiece = 1 << 20;  // memory stays bounded whatever the range
  for (int64_t done = 0; done < length;) {
    const int64_t size = std::min(kPiece, length - done);
    OnFileBytes(path, offset + done, ReadFileRange(source, offset + done, size), false);
    done += size;
  }
  return true;
}

}  // namespace runyard::runtime
