#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/digest.h"

namespace runyard::common {

// A folder of content-addressed blobs: <root>/<first two hex>/<sha256>. A blob becomes
// visible only once its bytes hash to its name (written aside, checked, renamed), so a
// reader never sees a partial or wrong blob. The server's blob store and the agent's
// node cache are both one of these.
class CasDirectory {
 public:
  explicit CasDirectory(std::filesystem::path root) : root_(std::move(root)) {}

  bool Has(const std::string& digest) const;
  std::filesystem::path PathOf(const std::string& digest) const;
  const std::filesystem::path& root() const { return root_; }

  // Receives one blob piece by piece; Commit() checks the digest and publishes it.
  class Writer {
   public:
    ~Writer();
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;

    // Bytes already received: > 0 when a resumable write picks up a broken-off one.
    int64_t offset() const { return offset_; }
    absl::Status Append(std::string_view bytes);
    absl::Status Commit();

   private:
    friend class CasDirectory;
    Writer(CasDirectory* cas, std::string digest, std::filesystem::path temp, bool keep_on_failure);
    absl::Status Open();

    CasDirectory* cas_;
    std::string digest_;
    std::filesystem::path temp_;
    bool keep_on_failure_;
    std::FILE* file_ = nullptr;
    StreamingSha256 hash_;
    int64_t offset_ = 0;
    bool committed_ = false;
  };

  // A fresh write. With `resumable`, the partial data survives a failure under a name
  // derived from the digest, and the next resumable write of that digest continues it.
  absl::StatusOr<std::unique_ptr<Writer>> StartWrite(const std::string& digest, bool resumable = false);

  // Bytes of a broken-off resumable write of `digest` (0 when there is none).
  int64_t PartialSize(const std::string& digest) const;

  // Stores a whole blob from memory or from a file; returns its digest.
  absl::StatusOr<std::string> Put(std::string_view bytes);
  absl::StatusOr<std::string> PutFile(const std::filesystem::path& file);

 private:
  std::filesystem::path PartialPath(const std::string& digest) const;
  std::filesystem::path root_;
};

}  // namespace runyard::common
