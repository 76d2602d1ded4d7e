#include "cli/tar_gz_writer.h"

#include <zlib.h>

#include <array>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace runyard::cli {

namespace {
constexpr size_t kBlock = 512;
constexpr int64_t kMaxOctalSize = 077777777777;  // what the 12-byte size field holds (8 GiB - 1)
}  // namespace

// The ustar header's fields, at their offsets.
struct TarHeader {
  std::array<char, kBlock> bytes{};
  void Text(size_t offset, size_t width, std::string_view text) {
    std::memcpy(bytes.data() + offset, text.data(), std::min(width, text.size()));
  }
  // Zero-padded octal in width-1 digits and a NUL.
  void Octal(size_t offset, size_t width, uint64_t value) {
    bytes[offset + width - 1] = '\0';
    for (size_t i = width - 1; i-- > 0; value >>= 3) bytes[offset + i] = static_cast<char>('0' + (value & 7));
  }
  // Sets the magic and the checksum, once every other field is set.
  void Seal() {
    Text(257, 6, std::string_view("ustar\0", 6));
    Text(263, 2, "00");
    std::memset(bytes.data() + 148, ' ', 8);  // the checksum counts its own field as spaces
    unsigned sum = 0;
    for (char c : bytes) sum += static_cast<unsigned char>(c);
    Octal(148, 7, sum);  // six digits, a NUL, and the space left in place
  }
};

namespace {

bool NeedsPaxPath(std::string_view path) {
  if (path.size() > 100) return true;
  for (unsigned char c : path) {
    if (c >= 0x80) return true;  // pax carries UTF-8 names; the ustar field has no encoding
  }
  return false;
}

}  // namespace

std::string PaxRecord(std::string_view key, std::string_view value) {
  const size_t body = 1 + key.size() + 1 + value.size() + 1;  // " key=value\n"
  size_t length = body + std::to_string(body).size();
  if (std::to_string(length).size() != std::to_string(body).size()) ++length;  // 99 -> 101
  return absl::StrCat(length, " ", std::string(key), "=", std::string(value), "\n");
}

absl::StatusOr<std::unique_ptr<TarGzWriter>> TarGzWriter::Create(const std::filesystem::path& path) {
  gzFile gz = gzopen(path.c_str(), "wb6");
  if (gz == nullptr) return absl::PermissionDeniedError("cannot write " + path.string());
  return std::unique_ptr<TarGzWriter>(new TarGzWriter(gz, path.string()));
}

TarGzWriter::~TarGzWriter() {
  if (gz_ != nullptr) gzclose(static_cast<gzFile>(gz_));
}

absl::Status TarGzWriter::Put(std::string_view bytes) {
  if (gz_ == nullptr) return absl::FailedPreconditionError(path_ + " is already finished");
  if (bytes.empty()) return absl::OkStatus();
  if (gzwrite(static_cast<gzFile>(gz_), bytes.data(), static_cast<unsigned>(bytes.size())) !=
      static_cast<int>(bytes.size())) {
    int code = 0;
    return absl::InternalError(absl::StrCat("cannot write ", path_, ": ", gzerror(static_cast<gzFile>(gz_), &code)));
  }
  return absl::OkStatus();
}

absl::Status TarGzWriter::AddHeader(std::string_view path, char type, uint32_t mode, int64_t size) {
  if (absl::Status ended = EndFileData(); !ended.ok()) return ended;
  std::string pax;
  if (NeedsPaxPath(path)) pax += PaxRecord("path", path);
  if (size > kMaxOctalSize) pax += PaxRecord("size", std::to_string(size));
  if (!pax.empty()) {
    TarHeader extended;
    extended.Text(0, 100, "PaxHeader/" + std::string(path.substr(0, 80)));
    extended.bytes[156] = 'x';
    extended.Octal(100, 8, 0644);
    extended.Octal(124, 12, pax.size());
    if (absl::Status put = PutHeader(extended, pax); !put.ok()) return put;
  }
  TarHeader header;
  header.Text(0, 100, path);  // cut when long: the pax record above has the whole name
  header.Octal(100, 8, mode & 07777);
  header.Octal(108, 8, 0);   // uid
  header.Octal(116, 8, 0);   // gid
  header.Octal(124, 12, size > kMaxOctalSize ? 0 : static_cast<uint64_t>(size));
  header.Octal(136, 12, 0);  // mtime
  header.bytes[156] = type;
  return PutHeader(header, "");
}

absl::Status TarGzWriter::PutHeader(TarHeader& header, std::string_view content) {
  header.Seal();
  if (absl::Status put = Put(std::string_view(header.bytes.data(), kBlock)); !put.ok()) return put;
  if (absl::Status put = Put(content); !put.ok()) return put;
  static const std::array<char, kBlock> kZeros{};
  return Put(std::string_view(kZeros.data(), (kBlock - content.size() % kBlock) % kBlock));
}

absl::Status TarGzWriter::EndFileData() {
  if (file_left_ > 0) {
    return absl::FailedPreconditionError(absl::StrCat("archive entry is ", file_left_, " bytes short"));
  }
  static const std::array<char, kBlock> kZeros{};  // file_padding_ is under one block
  const int64_t padding = file_padding_;
  file_padding_ = 0;
  return Put(std::string_view(kZeros.data(), static_cast<size_t>(padding)));
}

absl::Status TarGzWriter::AddFolder(std::string_view path, uint32_t mode) {
  return AddHeader(std::string(path) + "/", '5', mode, 0);
}

absl::Status TarGzWriter::BeginFile(std::string_view path, uint32_t mode, int64_t size) {
  if (absl::Status added = AddHeader(path, '0', mode, size); !added.ok()) return added;
  file_left_ = size;
  file_padding_ = (kBlock - size % kBlock) % kBlock;
  return absl::OkStatus();
}

absl::Status TarGzWriter::Write(std::string_view bytes) {
  if (static_cast<int64_t>(bytes.size()) > file_left_) {
    return absl::FailedPreconditionError("more bytes than the archive entry's size");
  }
  file_left_ -= static_cast<int64_t>(bytes.size());
  return Put(bytes);
}

absl::Status TarGzWriter::Finish() {
  if (absl::Status ended = EndFileData(); !ended.ok()) return ended;
  static const std::array<char, 2 * kBlock> kEnd{};  // two zero blocks end a tar
  if (absl::Status put = Put(std::string_view(kEnd.data(), kEnd.size())); !put.ok()) return put;
  const int closed = gzclose(static_cast<gzFile>(gz_));
  gz_ = nullptr;
  if (closed != Z_OK) return absl::InternalError("cannot finish " + path_);
  return absl::OkStatus();
}

}  // namespace runyard::cli
