#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace runyard::runtime {

// Follows the file a run's processes write their stdout and stderr to (opened O_APPEND by
// each of them): the script writes at the speed of a local file, never at that of a pipe
// someone must drain, and what lands is handed on: the bytes themselves (`on_bytes`), or
// only where the file grew (`on_range`, in pieces of at most 1 MiB) for a consumer that
// reads them from the file later. Past `max_bytes` (0: no limit) what the run writes is
// cut off the file again and dropped, and one marker line says so; the local file stays
// bounded.
class OutputTail {
 public:
  using BytesSink = std::function<void(std::string_view)>;
  using RangeSink = std::function<void(int64_t offset, int64_t length)>;

  OutputTail(std::filesystem::path file, int64_t max_bytes, BytesSink on_bytes);
  OutputTail(std::filesystem::path file, int64_t max_bytes, RangeSink on_range);

  // Hands on whatever was written since the last call; returns how many bytes.
  int64_t ReadNew();
  // After the last writer is gone: reads to the end, and adds the marker to the file if
  // the output was cut.
  void Finish();

  int64_t dropped_bytes() const { return dropped_; }
  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  int64_t max_bytes_;
  BytesSink on_bytes_;
  RangeSink on_range_;
  int64_t offset_ = 0;  // what was handed on
  int64_t dropped_ = 0;
  bool cut_ = false;
  std::string buffer_;
};

}  // namespace runyard::runtime
