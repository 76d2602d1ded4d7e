// ControlPlane's blob store operations (the Cas service, and local mode's snapshots):
// what is missing, uploads whole or resumable, and blobs streamed back out.

#include "absl/strings/str_cat.h"
#include "common/digest.h"
#include "common/status_macros.h"
#include "server/chunk_reader.h"
#include "server/control_plane.h"

namespace runyard::server {
namespace {

absl::Status CheckDigest(const std::string& digest) {
  if (common::IsValidDigest(digest)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("'", digest, "' is not a SHA-256 digest"));
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ControlPlane::FindMissingBlobs(
    const std::vector<std::string>& digests) {
  std::vector<std::string> missing;
  for (const std::string& digest : digests) {
    RETURN_IF_ERROR(CheckDigest(digest));
    if (!blobs_->Has(digest)) missing.push_back(digest);
  }
  return missing;
}

absl::Status ControlPlane::PutBlob(const std::string& digest, std::string_view bytes) {
  if (blobs_->Has(digest)) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::unique_ptr<BlobStore::Writer> writer, blobs_->StartWrite(digest));
  RETURN_IF_ERROR(writer->Append(bytes));
  return writer->Commit();  // checks the bytes against the digest
}

absl::Status ControlPlane::PutBlobFile(const std::string& digest, const std::filesystem::path& file,
                                       const std::function<void(int64_t)>& on_progress) {
  RETURN_IF_ERROR(CheckDigest(digest));
  if (blobs_->Has(digest)) return absl::OkStatus();
  ASSIGN_OR_RETURN(ChunkReader reader, ChunkReader::Open(file));
  ASSIGN_OR_RETURN(std::unique_ptr<BlobStore::Writer> writer, blobs_->StartWrite(digest));
  std::string piece;
  for (int64_t offset = 0; offset < reader.size();) {
    RETURN_IF_ERROR(reader.ReadAt(offset, &piece));
    if (piece.empty()) break;  // the file shrank: Commit below finds the digest wrong
    RETURN_IF_ERROR(writer->Append(piece));
    offset += static_cast<int64_t>(piece.size());
    if (on_progress) on_progress(static_cast<int64_t>(piece.size()));
  }
  return writer->Commit();  // checks the bytes against the digest
}

absl::StatusOr<runyard::v1::GetUploadOffsetResponse> ControlPlane::BlobUploadOffset(
    const std::string& digest) {
  RETURN_IF_ERROR(CheckDigest(digest));
  runyard::v1::GetUploadOffsetResponse response;
  response.set_complete(blobs_->Has(digest));
  response.set_offset(response.complete() ? 0 : blobs_->PartialSize(digest));
  return response;
}

absl::StatusOr<std::unique_ptr<BlobUploads::Upload>> ControlPlane::StartBlobUpload(
    const std::string& digest, int64_t offset) {
  return uploads_.Start(digest, offset);
}

absl::Status ControlPlane::ReadBlobs(
    const std::vector<std::string>& digests,
    const std::function<bool(const runyard::v1::BlobChunk&)>& emit) {
  for (const std::string& digest : digests) {
    if (!blobs_->Has(digest))
      return absl::NotFoundError(absl::StrCat("blob ", digest, " not found"));
  }
  for (const std::string& digest : digests) {
    ASSIGN_OR_RETURN(ChunkReader reader, ChunkReader::Open(blobs_->PathOf(digest)));
    runyard::v1::BlobChunk chunk;
    chunk.set_digest(digest);
    chunk.set_size(reader.size());
    int64_t offset = 0;
    do {  // an empty blob still sends one chunk, so the receiver learns it
      RETURN_IF_ERROR(reader.ReadAt(offset, chunk.mutable_data()));
      chunk.set_offset(offset);
      if (!emit(chunk)) return absl::OkStatus();
      offset += static_cast<int64_t>(chunk.data().size());
    } while (!chunk.data().empty() && offset < reader.size());
  }
  return absl::OkStatus();
}

}  // namespace runyard::server
