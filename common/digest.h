#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <cstdint>

#include "absl/status/statusor.h"

struct sha256_ctx;  // nettle's state, kept out of this header

namespace runyard::common {

// SHA-256 as 64 lowercase hex characters.
std::string Sha256Hex(std::string_view bytes);
absl::StatusOr<std::string> Sha256File(const std::filesystem::path& path);

// True for 64 lowercase hex characters: the only digests we accept from the wire.
bool IsValidDigest(std::string_view digest);

}  // namespace runyard::common

namespace runyard::common {

// SHA-256 fed piece by piece; HexSoFar() does not end the stream.
class StreamingSha256 {
 public:
  StreamingSha256();
  ~StreamingSha256();
  StreamingSha256(const StreamingSha256&) = delete;
  StreamingSha256& operator=(const StreamingSha256&) = delete;

  void Update(std::string_view bytes);
  std::string HexSoFar() const;

 private:
  ::sha256_ctx* ctx_;
};

// SHA-256 of the first `length` bytes of a file.
absl::StatusOr<std::string> Sha256FilePrefix(const std::filesystem::path& path, int64_t length);

}  // namespace runyard::common
