#include "runtime/snapshot_stage.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
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

// Set when an overlay mount failed in this process: later runs go straight to copies.
std::atomic<bool> overlay_failed_here{false};

bool SameFilesystem(const std::filesystem::path& a, const std::filesystem::path& b) {
  struct stat first {}, second {};
  return ::stat(a.c_str(), &first) == 0 && ::stat(b.c_str(), &second) == 0 && first.st_dev == second.st_dev;
}

// In auto mode the overlay is simply tried on the run's own folders, with copies as the
// fallback: a probe mount in a scratch folder first cost every local run (a new CLI
// process each time) a dozen mount, mkdir and rmdir calls. Its lower layer is hardlinks
// into the cache, so the cache and the run must share a filesystem.
bool OverlayWorthTrying(Materialization materialization, const std::filesystem::path& cache_root,
                        const std::filesystem::path& run_root) {
  if (materialization == Materialization::kOverlay) return true;
  return materialization == Materialization::kAuto && ::geteuid() == 0 && !overlay_failed_here.load() &&
         SameFilesystem(cache_root, run_root);
}

// The tree as hardlinks into the cache under <run>/snapshot, and an overlay of it on the
// working directory. On success the report holds the mount and `written` the tree's
// figures. A failed mount turns the overlay off for the rest of this process (the node
// cannot mount); a failed link (another mount of the same disk, too many links) does not.
absl::Status TryOverlay(const runyard::v1::SnapshotManifest& manifest, BlobCache& cache, const Workspace& workspace,
                        SnapshotReport& report, absl::StatusOr<MaterializeStats>& written) {
  const std::filesystem::path lower = workspace.root / "snapshot";
  const std::filesystem::path upper = workspace.root / "overlay" / "upper";
  const std::filesystem::path work = workspace.root / "overlay" / "work";
  std::error_code ec;
  for (const auto& dir : {lower, upper, work}) std::filesystem::create_directories(dir, ec);
  absl::StatusOr<MaterializeStats> linked = LinkTree(manifest, cache.cas(), lower);
  if (!linked.ok()) return linked.status();
  absl::StatusOr<std::unique_ptr<OverlayMount>> mount = OverlayMount::Mount(lower, upper, work, workspace.working_dir);
  if (!mount.ok()) {
    overlay_failed_here.store(true);
    return absl::InternalError(std::string(mount.status().message()));
  }
  report.mount = std::move(*mount);
  report.overlay = true;
  written = std::move(linked);
  return absl::OkStatus();
}

absl::Status RemoveOverlayFolders(const Workspace& workspace) {
  std::error_code ec;
  for (const char* name : {"snapshot", "overlay"}) {
    std::filesystem::remove_all(workspace.root / name, ec);
    if (ec) {
      return absl::InternalError(absl::StrCat("cannot remove ", (workspace.root / name).string(),
                                              " after the overlay failed: ", ec.message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadBlob(const common::CasDirectory& cas, const std::string& digest) {
  absl::StatusOr<std::string> bytes = common::ReadWholeFile(cas.PathOf(digest));
  if (!bytes.ok()) return absl::NotFoundError("blob " + digest + " is not in the cache");
  return bytes;
}
}  // namespace

void ForgetOverlayFailure() { overlay_failed_here.store(false); }

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
  absl::StatusOr<MaterializeStats> written;
  if (OverlayWorthTrying(materialization, cache.cas().root(), workspace.root)) {
    absl::Status tried = TryOverlay(*manifest, cache, workspace, report, written);
    if (!tried.ok() && materialization == Materialization::kOverlay) return tried;
    if (!tried.ok()) {
      report.overlay_failure = std::string(tried.message());
      // The lower tree is hardlinks into the cache: a run must never find it unmounted.
      if (absl::Status removed = RemoveOverlayFolders(workspace); !removed.ok()) return removed;
    }
  }
  if (!report.overlay) {
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
