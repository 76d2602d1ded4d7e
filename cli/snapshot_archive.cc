#include "cli/snapshot_archive.h"

#include <archive.h>
#include <archive_entry.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "common/snapshot_manifest.h"

namespace runyard::cli {

absl::Status WriteSnapshotArchive(RunBackend& backend, const std::string& snapshot_id,
                                  const std::filesystem::path& out) {
  std::string manifest_bytes;
  if (absl::Status read = backend.ReadBlob(snapshot_id, [&](std::string_view bytes) { manifest_bytes.append(bytes); });
      !read.ok()) {
    return read;
  }
  absl::StatusOr<runyard::v1::SnapshotManifest> manifest = common::ParseManifest(manifest_bytes);
  if (!manifest.ok()) return manifest.status();

  std::unique_ptr<struct archive, int (*)(struct archive*)> writer(archive_write_new(), archive_write_free);
  archive_write_set_format_pax_restricted(writer.get());
  archive_write_add_filter_gzip(writer.get());
  const std::filesystem::path partial = out.string() + ".part";
  if (archive_write_open_filename(writer.get(), partial.c_str()) != ARCHIVE_OK) {
    return absl::PermissionDeniedError(absl::StrCat("cannot write ", out.string(), ": ",
                                                    archive_error_string(writer.get())));
  }
  for (const auto& entry : manifest->entries()) {
    std::unique_ptr<struct archive_entry, void (*)(struct archive_entry*)> header(archive_entry_new(),
                                                                                 archive_entry_free);
    archive_entry_set_pathname(header.get(), entry.path().c_str());
    archive_entry_set_filetype(header.get(), entry.directory() ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(header.get(), static_cast<mode_t>(entry.mode()));
    archive_entry_set_size(header.get(), entry.directory() ? 0 : entry.size());
    if (archive_write_header(writer.get(), header.get()) != ARCHIVE_OK) {
      return absl::InternalError(absl::StrCat("cannot add ", entry.path(), ": ", archive_error_string(writer.get())));
    }
    if (entry.directory()) continue;
    int64_t written = 0;
    absl::Status read = backend.ReadBlob(entry.digest(), [&](std::string_view bytes) {
      archive_write_data(writer.get(), bytes.data(), bytes.size());
      written += static_cast<int64_t>(bytes.size());
    });
    if (!read.ok()) return read;
    if (written != entry.size()) return absl::DataLossError("blob of " + entry.path() + " has the wrong size");
  }
  if (archive_write_close(writer.get()) != ARCHIVE_OK) return absl::InternalError("cannot finish the archive");
  std::error_code ec;
  std::filesystem::rename(partial, out, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot write ", out.string(), ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace runyard::cli
