#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/digest.h"

namespace runyard::server {

// Content-addressed blobs on disk: <root>/<first two hex>/<sha256>. A blob becomes
// visible only once its bytes hash to its name (written to a temporary file, renamed).
class BlobStore {
 public:
  explicit BlobStore(std::filesystem::path root) : root_(std::move(root)) {}

  bool Has(const std::string& digest) const;
  std::filesystem::path PathOf(const std::string& digest) const;

  // Receives one blob piece by piece, then Commit() checks the digest and publishes it.
  class Writer {
   public:
    Writer(BlobStore* store, std::string digest);
    ~Writer();
    absl::Status Append(std::string_view bytes);
    absl::Status Commit();

   private:
    BlobStore* store_;
    std::string digest_;
    std::filesystem::path temp_;
    std::FILE* file_ = nullptr;
    common::StreamingSha256 hash_;
    bool committed_ = false;
  };
  absl::StatusOr<std::unique_ptr<Writer>> StartWrite(const std::string& digest);

  // Copies a local file in (used by local mode); returns its digest.
  absl::StatusOr<std::string> PutFile(const std::filesystem::path& file);

 private:
  std::filesystem::path root_;
};

}  // namespace runyard::server
