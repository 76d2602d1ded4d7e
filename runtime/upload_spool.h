#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace runyard::runtime {

// One thing a run must send, in order: bytes of a run file at their offset, a range of a
// local file that holds those bytes, or a status.
struct SpoolRecord {
  // kFileRange: the bytes stay where they are (the run's std_log.txt, which the script
  // writes itself) and are read when sent, so heavy output is not written twice on the
  // node.
  enum class Kind : uint8_t { kFileBytes = 0, kStatus = 1, kFileRange = 2 };
  Kind kind = Kind::kFileBytes;
  std::string path;       // kFileBytes, kFileRange: the run file
  int64_t offset = 0;     // kFileBytes, kFileRange: where the bytes belong (also in `source`)
  bool truncate = false;  // kFileBytes: the file starts over at offset 0
  std::string payload;    // kFileBytes: the bytes; kStatus: a serialized UpdateStatusRequest (lease left out)
  std::filesystem::path source;  // kFileRange: the local file holding the bytes
  int64_t length = 0;            // kFileRange: how many bytes
};

// The run's upload journal: an append-only file of records, written first and sent later,
// so the script's output never waits for the network and the agent's memory does not grow
// with it. What the control plane acknowledged is remembered next to it (`<file>.sent`),
// so after a crash the sending resumes there; re-sending is harmless (appends are
// addressed by offset and idempotent).
class UploadSpool {
 public:
  // Opens `file` (creating it) and picks up where an earlier process left off. Empty
  // `file`: an unnamed temporary file (nothing survives the process).
  static absl::StatusOr<std::unique_ptr<UploadSpool>> Open(const std::filesystem::path& file);
  ~UploadSpool();
  UploadSpool(const UploadSpool&) = delete;
  UploadSpool& operator=(const UploadSpool&) = delete;

  absl::Status Append(const SpoolRecord& record);

  // The complete record at `position` and the position after it; nothing at the end (or
  // where a crash cut the last record short).
  std::optional<std::pair<SpoolRecord, int64_t>> ReadAt(int64_t position) const;

  int64_t end() const;
  int64_t sent() const;
  void MarkSent(int64_t position);  // everything before `position` was acknowledged

  // Deletes the journal (everything was sent).
  void Remove();

  const std::filesystem::path& file() const { return file_; }

 private:
  UploadSpool(std::filesystem::path file, int fd, int sent_fd, int64_t end, int64_t sent)
      : file_(std::move(file)), fd_(fd), sent_fd_(sent_fd), end_(end), sent_(sent) {}

  std::filesystem::path file_;
  int fd_;
  int sent_fd_;  // -1 for a temporary spool
  mutable std::mutex mutex_;
  int64_t end_;   // end of the last complete record
  int64_t sent_;
};

}  // namespace runyard::runtime
