#include "server/blob_uploads.h"

#include "absl/strings/str_cat.h"

namespace runyard::server {

BlobUploads::Upload::~Upload() {
  writer_.reset();  // closes the partial file before another writer may open it
  owner_->Release(digest_);
}

void BlobUploads::Release(const std::string& digest) {
  std::lock_guard lock(mutex_);
  in_flight_.erase(digest);
}

absl::StatusOr<std::unique_ptr<BlobUploads::Upload>> BlobUploads::Start(const std::string& digest,
                                                                        int64_t offset) {
  {
    std::lock_guard lock(mutex_);
    if (!in_flight_.insert(digest).second) {
      return absl::AbortedError(
          absl::StrCat("blob ", digest, " is being uploaded by another client"));
    }
  }
  // From here the slot is the upload's: its destructor gives it back, also on the errors below.
  auto upload = std::unique_ptr<Upload>(new Upload(this, digest));
  absl::StatusOr<std::unique_ptr<BlobStore::Writer>> writer =
      blobs_->StartWrite(digest, /*resumable=*/true);
  if (!writer.ok()) return writer.status();
  upload->writer_ = std::move(*writer);
  if (offset != upload->offset()) {
    return absl::OutOfRangeError(
        absl::StrCat("upload of ", digest, " must resume at ", upload->offset()));
  }
  return upload;
}

}  // namespace runyard::server
