// ControlPlane::ListFiles and ReadFile: a run's history files as `runyard files`,
// `runyard download` and `runyard logs` read them.

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/chunk_reader.h"
#include "server/control_plane.h"

namespace runyard::server {

absl::StatusOr<std::vector<runyard::v1::FileInfo>> ControlPlane::ListFiles(
    const std::string& run_id) {
  RETURN_IF_ERROR(store_->GetRun(run_id).status());  // an unknown run is NotFound, not empty
  return store_->ListFiles(run_id);
}

absl::Status ControlPlane::ReadFile(
    const std::string& run_id, const std::string& path, int64_t offset,
    const std::function<bool(const runyard::v1::FileChunk&)>& emit) {
  ASSIGN_OR_RETURN(const std::filesystem::path file, files_->Locate(run_id, path));
  absl::StatusOr<ChunkReader> reader = ChunkReader::Open(file);
  if (absl::IsNotFound(reader.status())) {
    return absl::NotFoundError(absl::StrCat("run ", run_id, " has no file '", path, "'"));
  }
  if (!reader.ok()) return reader.status();
  runyard::v1::FileChunk chunk;
  chunk.set_total_size(reader->size());
  offset = std::max<int64_t>(offset, 0);
  do {  // past the end too, one chunk: the reader learns the size
    RETURN_IF_ERROR(reader->ReadAt(offset, chunk.mutable_data()));
    chunk.set_offset(offset);
    if (!emit(chunk)) return absl::OkStatus();
    offset += static_cast<int64_t>(chunk.data().size());
  } while (!chunk.data().empty() && offset < reader->size());
  return absl::OkStatus();
}

}  // namespace runyard::server
