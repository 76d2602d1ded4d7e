#include "common/digest.h"

#include <openssl/evp.h>

#include <fstream>
#include <memory>

namespace runyard::common {
namespace {

std::string ToHex(const unsigned char* data, unsigned int size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(kHex[data[i] >> 4]);
    out.push_back(kHex[data[i] & 0xf]);
  }
  return out;
}

using EvpContext = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

EvpContext NewSha256() {
  EvpContext ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  return ctx;
}

std::string Finish(EVP_MD_CTX* ctx) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx, digest, &size);
  return ToHex(digest, size);
}

}  // namespace

std::string Sha256Hex(std::string_view bytes) {
  EvpContext ctx = NewSha256();
  EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size());
  return Finish(ctx.get());
}

absl::StatusOr<std::string> Sha256File(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot open " + path.string());
  EvpContext ctx = NewSha256();
  std::string buffer(1 << 16, '\0');
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) return absl::DataLossError("read error on " + path.string());
  return Finish(ctx.get());
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

StreamingSha256::StreamingSha256() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr);
}
StreamingSha256::~StreamingSha256() { EVP_MD_CTX_free(ctx_); }

void StreamingSha256::Update(std::string_view bytes) {
  EVP_DigestUpdate(ctx_, bytes.data(), bytes.size());
}

std::string StreamingSha256::HexSoFar() const {
  EvpContext copy(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_MD_CTX_copy_ex(copy.get(), ctx_);
  return Finish(copy.get());
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
