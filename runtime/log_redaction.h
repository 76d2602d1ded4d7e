#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/secret_redactor.h"
#include "runtime/upload_spool.h"

namespace runyard::runtime {

// Keeps a run's secret values out of the log files it uploads (user_logs/, logs/,
// system_logs/, at any node's path), on their way into the upload spool; outputs/ pass
// untouched. Masking keeps every byte in place (common/secret_redactor.h). Bytes come two
// ways:
//  - as bytes (TakeBytes): masked now, with the file's last bytes kept for context;
//  - as ranges of a local file that keeps them (TakeRange, std_log.txt on the agent): only
//    where the range ends is decided now; its bytes are masked when read to be sent
//    (ReadMasked), with the bytes around them read from the same file.
// Either way, the last bytes of a log that may be the start of a secret are held back
// until more is written, or until Flush() (the run ended: its files are final). What is
// handed on is never changed later, so a resend after a crash sends the same bytes.
// The in-run API's records (system_logs/.../run_records.jsonl) are masked but never held
// back: the script's flush() waits for what it wrote to be acknowledged, and the SDK
// writes each record whole, so a secret never straddles the end of what is there.
// Thread-safe; the calls for one run file come in its order (each file has one writer).
class LogRedaction {
 public:
  explicit LogRedaction(std::vector<std::string> secrets);

  bool active() const { return !redactor_.empty(); }
  // Whether bytes of run file `path` go through this (there are secrets, and it is a log).
  bool Applies(std::string_view path) const { return active() && IsLog(path); }
  const std::vector<std::string>& secrets() const { return redactor_.secrets(); }
  // Whether run file `path` is a log (masked) rather than an output.
  static bool IsLog(std::string_view path);

  // What to spool for `data` at `offset` of log `path`: kFileBytes records, masked, of at
  // most kMaxPieceBytes each (none while everything is held back; a truncate always one).
  std::vector<SpoolRecord> TakeBytes(const std::string& path, int64_t offset, std::string_view data,
                                     bool truncate);
  // What to spool for bytes [offset, offset + length) of log `path`, kept in `source`:
  // kFileRange records that may start before `offset` (what was held back) and stop short
  // of its end.
  std::vector<SpoolRecord> TakeRange(const std::string& path, const std::filesystem::path& source,
                                     int64_t offset, int64_t length);
  // Everything held back, to spool now that the run's files are final.
  std::vector<SpoolRecord> Flush();

  // Bytes [offset, offset + length) of log file `source`, masked: what a range record
  // sends. As runtime/file_range.h's ReadFileRange where the file is short.
  std::string ReadMasked(const std::filesystem::path& source, int64_t offset, int64_t length,
                         int64_t* short_by = nullptr) const;

  // One Append carries at most this much; a piece of a log is never larger.
  static constexpr int64_t kMaxPieceBytes = 1 << 20;

 private:
  // A log that comes as bytes: `tail` is its bytes [end - tail.size(), end), the context
  // before what comes next; of those, [handed_on, end) were not handed on yet.
  struct ByteStream {
    int64_t end = 0;
    int64_t handed_on = 0;
    std::string tail;
  };
  // A log that comes as ranges of `source`: [handed_on, end) was not handed on yet.
  struct RangeStream {
    std::filesystem::path source;
    int64_t end = 0;
    int64_t handed_on = 0;
  };

  // Masks the stream's bytes up to `end` of its window; `final`: none held back.
  std::vector<SpoolRecord> HandOnBytes(const std::string& path, ByteStream& stream, bool final,
                                       bool truncate);
  std::vector<SpoolRecord> HandOnRange(const std::string& path, RangeStream& stream,
                                       int64_t until) const;

  const common::SecretRedactor redactor_;
  std::mutex mutex_;
  std::map<std::string, ByteStream> bytes_ ABSL_GUARDED_BY(mutex_);
  std::map<std::string, RangeStream> ranges_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace runyard::runtime
