#include "runtime/snapshot_stage.h"

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/read_file.h"
#include "common/snapshot_manifest.h"
#include "runtime/materialize.h"

namespace runyard::runtime {
namespace {
using Clock = std::chrono::steady_clock;

std::chrono::milliseconds Since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

absl::StatusOr<std::string> ReadBlob(const common::CasDirectory& cas, const std::string& digest) {
  absl::StatusOr<std::string> bytes = common::ReadWholeFile(cas.PathOf(digest));
  if (!bytes.ok()) return absl::NotFoundError("blob " + digest + " is not in the cache");
  return bytes;
}
}  // namespace

absl::StatusOr<SnapshotReport> PrepareSnapshot(const std::string& snapshot_id, BlobCache& cache,
                                               BlobSource& source, const Workspace& workspace,
                                               Materialization materialization) {
  if (!common::IsValidDigest(snapshot_id)) {
    return absl::FailedPreconditionError(absl::StrCat("snapshot id '", snapshot_id, "' is not a SHA-256"));
  }
  SnapshotReport report;
  const auto fetch_start = Clock::now();
  BlobCache::Pins manifest_pin(&cache, {snapshot_id});
  absl::StatusOr<FetchStats> fetched = source.FetchMissing({snapshot_id}, cache.cas());
  if (!fetched.ok()) return fetched.status();
  report.fetched = *fetched;
  absl::StatusOr<std::string> bytes = ReadBlob(cache.cas(), snapshot_id);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<runyard::v1::SnapshotManifest> manifest = common::ParseManifest(*bytes);
  if (!manifest.ok()) return manifest.status();

  std::set<std::string> distinct;
  for (const auto& entry : manifest->entries()) {
    if (!entry.directory()) distinct.insert(entry.digest());
  }
  std::vector<std::string> digests(distinct.begin(), distinct.end());
  digests.push_back(snapshot_id);
  report.pins = std::make_unique<BlobCache::Pins>(&cache, digests);
  digests.pop_back();
  fetched = source.FetchMissing(digests, cache.cas());
  if (!fetched.ok()) return fetched.status();
  report.fetched.blobs += fetched->blobs;
  report.fetched.bytes += fetched->bytes;
  report.fetch_time = Since(fetch_start);

  const auto materialize_start = Clock::now();
  const bool overlay = materialization == Materialization::kOverlay ||
                       (materialization == Materialization::kAuto && OverlaySupported(workspace.root.parent_path()));
  absl::StatusOr<MaterializeStats> written;
  if (overlay) {
    const std::filesystem::path lower = workspace.root / "snapshot";
    const std::filesystem::path upper = workspace.root / "overlay" / "upper";
    const std::filesystem::path work = workspace.root / "overlay" / "work";
    std::error_code ec;
    for (const auto& dir : {lower, upper, work}) std::filesystem::create_directories(dir, ec);
    written = LinkTree(*manifest, cache.cas(), lower);
    if (!written.ok()) return written.status();
    absl::StatusOr<std::unique_ptr<OverlayMount>> mount = OverlayMount::Mount(lower, upper, work, workspace.working_dir);
    if (!mount.ok()) return absl::InternalError(std::string(mount.status().message()));
    report.mount = std::move(*mount);
    report.overlay = true;
  } else {
    written = Materialize(*manifest, cache.cas(), workspace.working_dir);
    if (!written.ok()) return written.status();
  }
  report.materialize_time = Since(materialize_start);
  report.files = written->files;
  report.bytes = written->bytes;
  report.blobs = static_cast<int64_t>(distinct.size());
  return report;
}

}  // namespace runyard::runtime
