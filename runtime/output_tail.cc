#include "runtime/output_tail.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

namespace runyard::runtime {
namespace {

constexpr size_t kReadBytes = 1 << 20;

std::string CutMarker(int64_t max_bytes) {
  return "\n[runyard] log cut here: it reached its limit of " + std::to_string(max_bytes) +
         " bytes (agent setting max_log_bytes); the rest of the run's output is dropped, the run goes on\n";
}

}  // namespace

OutputTail::OutputTail(std::filesystem::path file, int64_t max_bytes, BytesSink on_bytes)
    : file_(std::move(file)), max_bytes_(max_bytes), on_bytes_(std::move(on_bytes)) {}

OutputTail::OutputTail(std::filesystem::path file, int64_t max_bytes, RangeSink on_range)
    : file_(std::move(file)), max_bytes_(max_bytes), on_range_(std::move(on_range)) {}

int64_t OutputTail::ReadNew() {
  const int64_t before = offset_;
  const int fd = ::open(file_.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat info {};
  if (::fstat(fd, &info) == 0) {
    int64_t end = static_cast<int64_t>(info.st_size);
    if (max_bytes_ > 0 && end > max_bytes_) {
      // Past the limit: keep the file at the limit (the writers append at its new end).
      dropped_ += end - max_bytes_;
      if (::ftruncate(fd, max_bytes_) == 0) end = max_bytes_;
      cut_ = true;
    }
    while (on_range_ && offset_ < end) {
      const int64_t length = std::min<int64_t>(kReadBytes, end - offset_);
      on_range_(offset_, length);
      offset_ += length;
    }
    if (offset_ < end && buffer_.empty()) buffer_.resize(kReadBytes);  // bytes mode only: ranges need none
    while (offset_ < end) {
      const ssize_t n = ::pread(fd, buffer_.data(), std::min<int64_t>(kReadBytes, end - offset_), offset_);
      if (n <= 0) break;
      on_bytes_(std::string_view(buffer_.data(), static_cast<size_t>(n)));
      offset_ += n;
    }
  }
  ::close(fd);
  return offset_ - before;
}

void OutputTail::Finish() {
  ReadNew();
  if (!cut_) return;
  const std::string marker = CutMarker(max_bytes_);
  const int fd = ::open(file_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd >= 0) {
    (void)!::write(fd, marker.data(), marker.size());
    ::close(fd);
  }
  if (on_range_) {
    on_range_(offset_, static_cast<int64_t>(marker.size()));
  } else {
    on_bytes_(marker);
  }
  offset_ += static_cast<int64_t>(marker.size());
}

}  // namespace runyard::runtime
