#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace runyard::cli {

struct TarHeader;

// Writes a gzip'd POSIX tar (pax) of folders and regular files, with zeroed owners and
// times. It stands in for libarchive in the CLI: linking libarchive loaded nine shared
// libraries (xml2, icu, lzma, zstd, ...) into every command, about 10 ms of CPU per start,
// for the one command that writes an archive.
class TarGzWriter {
 public:
  static absl::StatusOr<std::unique_ptr<TarGzWriter>> Create(const std::filesystem::path& path);
  ~TarGzWriter();
  TarGzWriter(const TarGzWriter&) = delete;
  TarGzWriter& operator=(const TarGzWriter&) = delete;

  absl::Status AddFolder(std::string_view path, uint32_t mode);
  // Starts a file of exactly `size` bytes, given to Write in pieces.
  absl::Status BeginFile(std::string_view path, uint32_t mode, int64_t size);
  absl::Status Write(std::string_view bytes);
  // Ends the archive and the gzip stream; the file is complete only when this returns OK.
  absl::Status Finish();

 private:
  explicit TarGzWriter(void* gz, std::string path) : gz_(gz), path_(std::move(path)) {}
  absl::Status AddHeader(std::string_view path, char type, uint32_t mode, int64_t size);
  absl::Status PutHeader(TarHeader& header, std::string_view content);
  absl::Status EndFileData();
  absl::Status Put(std::string_view bytes);

  void* gz_;  // zlib's gzFile
  std::string path_;
  int64_t file_left_ = 0;     // bytes the current file still owes
  int64_t file_padding_ = 0;  // zero bytes after it, to the next 512-byte block
};

// One pax extended-header record, "<length> <key>=<value>\n", whose length counts itself.
std::string PaxRecord(std::string_view key, std::string_view value);

}  // namespace runyard::cli
