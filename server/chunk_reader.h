#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "absl/status/statusor.h"

namespace runyard::server {

// The most bytes one streamed message carries (a log event, a file or blob chunk).
inline constexpr int64_t kStreamChunkBytes = 1 << 20;

// Reads a file a chunk at a time straight into a message's bytes field, so a streamed
// byte is copied once. The size is taken when the file is opened: a file that grows
// meanwhile is read up to that size (the next reader sees the rest).
class ChunkReader {
 public:
  // NotFound when there is no such file.
  static absl::StatusOr<ChunkReader> Open(const std::filesystem::path& path);
  ChunkReader(ChunkReader&& other) noexcept : fd_(other.fd_), size_(other.size_) { other.fd_ = -1; }
  ChunkReader& operator=(ChunkReader&&) = delete;
  ChunkReader(const ChunkReader&) = delete;
  ~ChunkReader();

  int64_t size() const { return size_; }
  // Replaces `out` with the bytes from `offset` on, at most kStreamChunkBytes and never past
  // size(); empty at or past the end. An error when the file cannot be read.
  absl::Status ReadAt(int64_t offset, std::string* out) const;

 private:
  ChunkReader(int fd, int64_t size) : fd_(fd), size_(size) {}

  int fd_;
  int64_t size_;
};

}  // namespace runyard::server
