#include "common/digest.h"

#include <nettle/sha2.h>

#include <fstream>

#include "absl/strings/escaping.h"

namespace runyard::common {
namespace {

// Ends `ctx` (pass a copy when the caller's stream must go on).
std::string Finish(sha256_ctx& ctx) {
  uint8_t digest[SHA256_DIGEST_SIZE];
  sha256_digest(&ctx, SHA256_DIGEST_SIZE, digest);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), SHA256_DIGEST_SIZE));
}

void Feed(sha256_ctx& ctx, std::string_view bytes) {
  sha256_update(&ctx, bytes.size(), reinterpret_cast<const uint8_t*>(bytes.data()));
}

}  // namespace

std::string Sha256Hex(std::string_view bytes) {
  sha256_ctx ctx;
  sha256_init(&ctx);
  Feed(ctx, bytes);
  return Finish(ctx);
}

absl::StatusOr<std::string> Sha256File(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot open " + path.string());
  sha256_ctx ctx;
  sha256_init(&ctx);
  std::string buffer(1 << 16, '\0');
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    Feed(ctx, std::string_view(buffer.data(), static_cast<size_t>(in.gcount())));
  }
  if (in.bad()) return absl::DataLossError("read error on " + path.string());
  return Finish(ctx);
}

bool IsValidDigest(std::string_view digest) {
  if (digest.size() != 64) return false;
  for (char c : digest) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace runyard::common

namespace runyard::common {

StreamingSha256::StreamingSha256() : ctx_(new sha256_ctx) { sha256_init(ctx_); }
StreamingSha256::~StreamingSha256() { delete ctx_; }

void StreamingSha256::Update(std::string_view bytes) { Feed(*ctx_, bytes); }

std::string StreamingSha256::HexSoFar() const {
  sha256_ctx copy = *ctx_;  // a plain struct: copying it forks the stream
  return Finish(copy);
}

absl::StatusOr<std::string> Sha256FilePrefix(const std::filesystem::path& path, int64_t length) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot open " + path.string());
  StreamingSha256 hash;
  std::string buffer(1 << 16, '\0');
  int64_t left = length;
  while (left > 0 && in) {
    in.read(buffer.data(), static_cast<std::streamsize>(std::min<int64_t>(left, buffer.size())));
    if (in.gcount() <= 0) break;
    hash.Update(std::string_view(buffer.data(), static_cast<size_t>(in.gcount())));
    left -= in.gcount();
  }
  if (left > 0) return absl::OutOfRangeError(path.string() + " is shorter than expected");
  return hash.HexSoFar();
}

}  // namespace runyard::common
