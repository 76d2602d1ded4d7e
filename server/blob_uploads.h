#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "server/blob_store.h"

namespace runyard::server {

// Resumable uploads into the blob store (Cas.UploadBlob), one writer per digest at a
// time: two clients appending to one partial file would corrupt it.
class BlobUploads {
 public:
  explicit BlobUploads(BlobStore* blobs) : blobs_(blobs) {}

  // One upload in progress. Commit() publishes the blob once its bytes hash to its
  // digest; an upload dropped before that keeps its bytes for the next one to resume.
  class Upload {
   public:
    ~Upload();  // lets the next upload of the digest start
    Upload(const Upload&) = delete;
    Upload& operator=(const Upload&) = delete;

    const std::string& digest() const { return digest_; }
    int64_t offset() const { return writer_->offset(); }  // bytes received so far
    absl::Status Append(std::string_view bytes) { return writer_->Append(bytes); }
    absl::Status Commit() { return writer_->Commit(); }

   private:
    friend class BlobUploads;
    Upload(BlobUploads* owner, std::string digest) : owner_(owner), digest_(std::move(digest)) {}

    BlobUploads* owner_;
    std::string digest_;
    std::unique_ptr<BlobStore::Writer> writer_;
  };

  // Starts or resumes the upload of `digest`, whose first bytes are at `offset`: that
  // must be where the partial copy ends (OutOfRange otherwise, naming it). Aborted while
  // another upload of the digest is open.
  absl::StatusOr<std::unique_ptr<Upload>> Start(const std::string& digest, int64_t offset);

 private:
  void Release(const std::string& digest);

  BlobStore* blobs_;
  std::mutex mutex_;
  std::set<std::string> in_flight_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace runyard::server
