#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace runyard::common {

// Masks secret values (common/secret_names.h: SecretValues) in the bytes of a run's log
// files: every byte of an occurrence becomes '*', so the masked file is exactly as long as
// the real one. Uploads address bytes by offset and may be resent after a crash; masking
// that never moves a byte keeps every offset and every resend the same.
//
// Pure and thread-safe: callers hand in a window of a file, read from disk or kept in
// memory, and say which part of it they want.
class SecretRedactor {
 public:
  explicit SecretRedactor(std::vector<std::string> secrets);

  bool empty() const { return secrets_.empty(); }
  const std::vector<std::string>& secrets() const { return secrets_; }

  // How far a window must reach either side of a range to see every occurrence that
  // overlaps it: the longest secret's length minus one.
  int64_t context_bytes() const { return context_; }

  // `window` holds a file's bytes from offset `window_offset` on. Returns its bytes
  // [from, to) with every occurrence that overlaps them masked, also one that starts
  // before `from` or ends after `to`, as far as the window shows it: a window that stops
  // short of to + context_bytes() before the file's end misses occurrences running past it.
  std::string Mask(std::string_view window, int64_t window_offset, int64_t from, int64_t to) const;

  // For a file that may still grow, whose end the window reaches: the first offset at or
  // after `from` from which the window's last bytes are a proper prefix of a secret (the
  // secret's start, its rest not written yet). Bytes from there on must wait until more
  // is written or the file is final. The window's end when nothing need wait.
  int64_t HoldBackFrom(std::string_view window, int64_t window_offset, int64_t from) const;

 private:
  std::vector<std::string> secrets_;  // non-empty values, longest first
  int64_t context_ = 0;
};

}  // namespace runyard::common
