#include "cli/snapshot_archive.h"

#include "absl/strings/str_cat.h"
#include "cli/tar_gz_writer.h"
#include "common/snapshot_manifest.h"

namespace runyard::cli {

namespace {

// The archive of `manifest` at `partial`, blob by blob.
absl::Status WriteArchive(RunBackend& backend, const runyard::v1::SnapshotManifest& manifest,
                          const std::filesystem::path& partial) {
  absl::StatusOr<std::unique_ptr<TarGzWriter>> writer = TarGzWriter::Create(partial);
  if (!writer.ok()) return writer.status();
  for (const auto& entry : manifest.entries()) {
    if (entry.directory()) {
      if (absl::Status added = (*writer)->AddFolder(entry.path(), entry.mode()); !added.ok()) return added;
      continue;
    }
    if (absl::Status added = (*writer)->BeginFile(entry.path(), entry.mode(), entry.size()); !added.ok()) return added;
    int64_t written = 0;
    absl::Status wrote = absl::OkStatus();
    absl::Status read = backend.ReadBlob(entry.digest(), [&](std::string_view bytes) {
      written += static_cast<int64_t>(bytes.size());
      if (wrote.ok() && written <= entry.size()) wrote = (*writer)->Write(bytes);
    });
    if (!read.ok()) return read;
    if (written != entry.size()) return absl::DataLossError("blob of " + entry.path() + " has the wrong size");
    if (!wrote.ok()) return wrote;
  }
  return (*writer)->Finish();
}

}  // namespace

absl::Status WriteSnapshotArchive(RunBackend& backend, const std::string& snapshot_id,
                                  const std::filesystem::path& out) {
  std::string manifest_bytes;
  if (absl::Status read = backend.ReadBlob(snapshot_id, [&](std::string_view bytes) { manifest_bytes.append(bytes); });
      !read.ok()) {
    return read;
  }
  absl::StatusOr<runyard::v1::SnapshotManifest> manifest = common::ParseManifest(manifest_bytes);
  if (!manifest.ok()) return manifest.status();

  const std::filesystem::path partial = out.string() + ".part";
  std::error_code ec;
  if (absl::Status written = WriteArchive(backend, *manifest, partial); !written.ok()) {
    std::filesystem::remove(partial, ec);  // no half archive left behind
    return written;
  }
  std::filesystem::rename(partial, out, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot write ", out.string(), ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace runyard::cli
