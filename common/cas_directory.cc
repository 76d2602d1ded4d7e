#include "common/cas_directory.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/ids.h"

namespace runyard::common {
namespace fs = std::filesystem;

bool CasDirectory::Has(const std::string& digest) const {
  if (!IsValidDigest(digest)) return false;
  std::error_code ec;
  return fs::is_regular_file(PathOf(digest), ec);
}

fs::path CasDirectory::PathOf(const std::string& digest) const {
  return root_ / digest.substr(0, 2) / digest;
}

fs::path CasDirectory::PartialPath(const std::string& digest) const {
  return root_ / "tmp" / (digest + ".partial");
}

int64_t CasDirectory::PartialSize(const std::string& digest) const {
  if (!IsValidDigest(digest)) return 0;
  std::error_code ec;
  const auto size = fs::file_size(PartialPath(digest), ec);
  return ec ? 0 : static_cast<int64_t>(size);
}

absl::StatusOr<std::unique_ptr<CasDirectory::Writer>> CasDirectory::StartWrite(const std::string& digest,
                                                                               bool resumable) {
  if (!IsValidDigest(digest)) {
    return absl::InvalidArgumentError(absl::StrCat("'", digest, "' is not a SHA-256 digest"));
  }
  std::error_code ec;
  fs::create_directories(root_ / "tmp", ec);
  const fs::path temp = resumable ? PartialPath(digest) : root_ / "tmp" / (digest + "." + RandomHex(6));
  auto writer = std::unique_ptr<Writer>(new Writer(this, digest, temp, resumable));
  if (absl::Status opened = writer->Open(); !opened.ok()) return opened;
  return writer;
}

CasDirectory::Writer::Writer(CasDirectory* cas, std::string digest, fs::path temp, bool keep_on_failure)
    : cas_(cas), digest_(std::move(digest)), temp_(std::move(temp)), keep_on_failure_(keep_on_failure) {}

absl::Status CasDirectory::Writer::Open() {
  if (keep_on_failure_) {
    // Resuming: the bytes already there count, and feed the digest first.
    std::ifstream in(temp_, std::ios::binary);
    std::string buffer(1 << 16, '\0');
    while (in) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      if (in.gcount() <= 0) break;
      hash_.Update(std::string_view(buffer.data(), static_cast<size_t>(in.gcount())));
      offset_ += in.gcount();
    }
  }
  file_ = std::fopen(temp_.c_str(), keep_on_failure_ ? "ab" : "wb");
  if (!file_) return absl::InternalError("cannot create " + temp_.string());
  return absl::OkStatus();
}

CasDirectory::Writer::~Writer() {
  if (file_) std::fclose(file_);
  if (!committed_ && !keep_on_failure_) {
    std::error_code ec;
    fs::remove(temp_, ec);
  }
}

absl::Status CasDirectory::Writer::Append(std::string_view bytes) {
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
    return absl::ResourceExhaustedError("cannot write blob " + digest_ + " (disk full?)");
  }
  hash_.Update(bytes);
  offset_ += static_cast<int64_t>(bytes.size());
  return absl::OkStatus();
}

absl::Status CasDirectory::Writer::Commit() {
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!closed) return absl::ResourceExhaustedError("cannot write blob " + digest_);
  const std::string actual = hash_.HexSoFar();
  std::error_code ec;
  if (actual != digest_) {
    fs::remove(temp_, ec);  // wrong bytes are worth nothing, resumable or not
    return absl::DataLossError(absl::StrCat("blob claimed digest ", digest_, " but hashes to ", actual));
  }
  const fs::path target = cas_->PathOf(digest_);
  fs::create_directories(target.parent_path(), ec);
  fs::rename(temp_, target, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot publish blob: ", ec.message()));
  committed_ = true;
  return absl::OkStatus();
}

absl::StatusOr<std::string> CasDirectory::Put(std::string_view bytes) {
  const std::string digest = Sha256Hex(bytes);
  if (Has(digest)) return digest;
  absl::StatusOr<std::unique_ptr<Writer>> writer = StartWrite(digest);
  if (!writer.ok()) return writer.status();
  if (absl::Status s = (*writer)->Append(bytes); !s.ok()) return s;
  if (absl::Status s = (*writer)->Commit(); !s.ok()) return s;
  return digest;
}

absl::StatusOr<std::string> CasDirectory::PutFile(const fs::path& file) {
  absl::StatusOr<std::string> digest = Sha256File(file);
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

}  // namespace runyard::common
