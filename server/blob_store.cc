#include "server/blob_store.h"

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/ids.h"

namespace runyard::server {
namespace fs = std::filesystem;

bool BlobStore::Has(const std::string& digest) const {
  if (!common::IsValidDigest(digest)) return false;
  std::error_code ec;
  return fs::is_regular_file(PathOf(digest), ec);
}

fs::path BlobStore::PathOf(const std::string& digest) const {
  return root_ / digest.substr(0, 2) / digest;
}

absl::StatusOr<std::unique_ptr<BlobStore::Writer>> BlobStore::StartWrite(const std::string& digest) {
  if (!common::IsValidDigest(digest)) {
    return absl::InvalidArgumentError(absl::StrCat("'", digest, "' is not a SHA-256 digest"));
  }
  return std::make_unique<Writer>(this, digest);
}

BlobStore::Writer::Writer(BlobStore* store, std::string digest)
    : store_(store), digest_(std::move(digest)) {
  fs::path tmp_dir = store_->root_ / "tmp";
  std::error_code ec;
  fs::create_directories(tmp_dir, ec);
  temp_ = tmp_dir / (digest_ + "." + common::RandomHex(6));
  file_ = std::fopen(temp_.c_str(), "wb");
}

BlobStore::Writer::~Writer() {
  if (file_) std::fclose(file_);
  if (!committed_) {
    std::error_code ec;
    fs::remove(temp_, ec);
  }
}

absl::Status BlobStore::Writer::Append(std::string_view bytes) {
  if (!file_) return absl::InternalError("cannot create " + temp_.string());
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
    return absl::ResourceExhaustedError("cannot write blob " + digest_ + " (disk full?)");
  }
  hash_.Update(bytes);
  return absl::OkStatus();
}

absl::Status BlobStore::Writer::Commit() {
  if (!file_) return absl::InternalError("cannot create " + temp_.string());
  if (std::fclose(file_) != 0) {
    file_ = nullptr;
    return absl::ResourceExhaustedError("cannot write blob " + digest_);
  }
  file_ = nullptr;
  const std::string actual = hash_.HexSoFar();
  if (actual != digest_) {
    return absl::DataLossError(absl::StrCat("blob claimed digest ", digest_, " but hashes to ", actual));
  }
  const fs::path target = store_->PathOf(digest_);
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  fs::rename(temp_, target, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot publish blob: ", ec.message()));
  committed_ = true;
  return absl::OkStatus();
}

absl::StatusOr<std::string> BlobStore::PutFile(const fs::path& file) {
  absl::StatusOr<std::string> digest = common::Sha256File(file);
  if (!digest.ok()) return digest.status();
  if (Has(*digest)) return digest;
  absl::StatusOr<std::unique_ptr<Writer>> writer = StartWrite(*digest);
  if (!writer.ok()) return writer.status();
  std::ifstream in(file, std::ios::binary);
  std::string buffer(1 << 16, '\0');
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.gcount() <= 0) break;
    if (absl::Status s = (*writer)->Append(std::string_view(buffer.data(), static_cast<size_t>(in.gcount())));
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = (*writer)->Commit(); !s.ok()) return s;
  return digest;
}

}  // namespace runyard::server
