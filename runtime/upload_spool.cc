#include "runtime/upload_spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace runyard::runtime {
namespace fs = std::filesystem;
namespace {

constexpr uint32_t kMagic = 0x31535952;  // "RYS1"
constexpr uint32_t kMaxPath = 4096;
constexpr uint32_t kMaxPayload = 64u << 20;

// The fixed part of a record, in the node's own byte order (the journal never leaves it).
struct Header {
  uint32_t magic;
  uint8_t kind;
  uint8_t truncate;
  uint16_t reserved;
  uint32_t path_size;
  uint32_t payload_size;
  int64_t offset;
};
static_assert(sizeof(Header) == 24);

bool WriteAll(int fd, const char* data, size_t size, int64_t at) {
  while (size > 0) {
    const ssize_t n = ::pwrite(fd, data, size, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
    at += n;
  }
  return true;
}

bool ReadAll(int fd, char* data, size_t size, int64_t at) {
  while (size > 0) {
    const ssize_t n = ::pread(fd, data, size, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
    at += n;
  }
  return true;
}

std::optional<Header> ReadHeader(int fd, int64_t position) {
  Header header{};
  if (!ReadAll(fd, reinterpret_cast<char*>(&header), sizeof header, position)) return std::nullopt;
  if (header.magic != kMagic || header.kind > 2 || header.path_size > kMaxPath ||
      header.payload_size > kMaxPayload) {
    return std::nullopt;  // a record cut short by a crash, or not ours
  }
  return header;
}

int64_t RecordSize(const Header& header) {
  return static_cast<int64_t>(sizeof(Header)) + header.path_size + header.payload_size;
}

int OpenTemporary() {
  const std::string dir = fs::temp_directory_path().string();
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  std::string name = dir + "/runyard-spool-XXXXXX";
  fd = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd >= 0) ::unlink(name.c_str());
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<UploadSpool>> UploadSpool::Open(const fs::path& file) {
  if (file.empty()) {
    const int fd = OpenTemporary();
    if (fd < 0) return absl::InternalError(absl::StrCat("cannot create an upload spool: ", strerror(errno)));
    return std::unique_ptr<UploadSpool>(new UploadSpool(file, fd, -1, 0, 0));
  }
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open ", file.string(), ": ", strerror(errno)));
  const fs::path sent_file = file.string() + ".sent";
  const int sent_fd = ::open(sent_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (sent_fd < 0) {
    ::close(fd);
    return absl::InternalError(absl::StrCat("cannot open ", sent_file.string(), ": ", strerror(errno)));
  }
  int64_t sent = 0;
  if (!ReadAll(sent_fd, reinterpret_cast<char*>(&sent), sizeof sent, 0) || sent < 0) sent = 0;
  // The end is that of the last complete record; a record cut short by a crash is
  // written over by the next one.
  struct stat info {};
  const int64_t size = ::fstat(fd, &info) == 0 ? static_cast<int64_t>(info.st_size) : 0;
  int64_t end = 0;
  for (std::optional<Header> header; (header = ReadHeader(fd, end)) && end + RecordSize(*header) <= size;) {
    end += RecordSize(*header);
  }
  if (sent > end) sent = end;
  return std::unique_ptr<UploadSpool>(new UploadSpool(file, fd, sent_fd, end, sent));
}

UploadSpool::~UploadSpool() {
  ::close(fd_);
  if (sent_fd_ >= 0) ::close(sent_fd_);
}

absl::Status UploadSpool::Append(const SpoolRecord& record) {
  // A range is stored as its length (8 bytes) and the source's path in the payload's place.
  std::string range;
  if (record.kind == SpoolRecord::Kind::kFileRange) {
    range.assign(reinterpret_cast<const char*>(&record.length), sizeof record.length);
    range.append(record.source.string());
  }
  const std::string& payload = record.kind == SpoolRecord::Kind::kFileRange ? range : record.payload;
  if (record.path.size() > kMaxPath || payload.size() > kMaxPayload) {
    return absl::InvalidArgumentError("spool record too large");
  }
  Header header{kMagic, static_cast<uint8_t>(record.kind), static_cast<uint8_t>(record.truncate ? 1 : 0), 0,
                static_cast<uint32_t>(record.path.size()), static_cast<uint32_t>(payload.size()),
                record.offset};
  std::string bytes(reinterpret_cast<const char*>(&header), sizeof header);
  bytes.append(record.path);
  bytes.append(payload);
  std::lock_guard lock(mutex_);
  if (!WriteAll(fd_, bytes.data(), bytes.size(), end_)) {
    return absl::InternalError(absl::StrCat("cannot write the upload spool ", file_.string(), ": ", strerror(errno)));
  }
  end_ += static_cast<int64_t>(bytes.size());
  return absl::OkStatus();
}

std::optional<std::pair<SpoolRecord, int64_t>> UploadSpool::ReadAt(int64_t position) const {
  if (position >= end()) return std::nullopt;
  std::optional<Header> header = ReadHeader(fd_, position);
  if (!header) return std::nullopt;
  SpoolRecord record;
  record.kind = static_cast<SpoolRecord::Kind>(header->kind);
  record.truncate = header->truncate != 0;
  record.offset = header->offset;
  record.path.resize(header->path_size);
  record.payload.resize(header->payload_size);
  const int64_t path_at = position + static_cast<int64_t>(sizeof(Header));
  if (!ReadAll(fd_, record.path.data(), record.path.size(), path_at) ||
      !ReadAll(fd_, record.payload.data(), record.payload.size(), path_at + header->path_size)) {
    return std::nullopt;
  }
  if (record.kind == SpoolRecord::Kind::kFileRange) {
    if (record.payload.size() < sizeof record.length) return std::nullopt;
    std::memcpy(&record.length, record.payload.data(), sizeof record.length);
    record.source = record.payload.substr(sizeof record.length);
    record.payload.clear();
  }
  return std::make_pair(std::move(record), position + RecordSize(*header));
}

int64_t UploadSpool::end() const {
  std::lock_guard lock(mutex_);
  return end_;
}

int64_t UploadSpool::sent() const {
  std::lock_guard lock(mutex_);
  return sent_;
}

void UploadSpool::MarkSent(int64_t position) {
  std::lock_guard lock(mutex_);
  sent_ = position;
  if (sent_fd_ >= 0) WriteAll(sent_fd_, reinterpret_cast<const char*>(&position), sizeof position, 0);
}

void UploadSpool::Remove() {
  if (file_.empty()) return;
  std::error_code ec;
  fs::remove(file_, ec);
  fs::remove(file_.string() + ".sent", ec);
}

}  // namespace runyard::runtime
