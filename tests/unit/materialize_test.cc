// Tests for runtime/materialize.h (a checked manifest written into a folder as copies of
// the cache's blobs) and runtime/snapshot_stage.h (manifest, fetch, pins, tree).

#include "runtime/materialize.h"

#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/cas_directory.h"
#include "common/digest.h"
#include "common/snapshot_manifest.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/blob_cache.h"
#include "runtime/snapshot_stage.h"
#include "runtime/workspace.h"
#include "tests/fakes/fake_blob_source.h"
#include "tests/unit/overlay_probe.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::runtime {
namespace {

namespace fs = std::filesystem;
using runyard::v1::ManifestEntry;
using runyard::v1::SnapshotManifest;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

using ::runyard::fakes::FakeBlobSource;
using ::runyard::testutil::ScopedTempDir;

// Sets the process umask for the lifetime of the object.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

std::string ReadFile(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct stat Lstat(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st;
}

mode_t ModeOf(const fs::path& path) { return Lstat(path).st_mode & 07777; }

ManifestEntry File(const std::string& path, const std::string& content, uint32_t mode = 0644) {
  ManifestEntry entry;
  entry.set_path(path);
  entry.set_mode(mode);
  entry.set_size(static_cast<int64_t>(content.size()));
  entry.set_digest(common::Sha256Hex(content));
  return entry;
}

ManifestEntry Dir(const std::string& path) {
  ManifestEntry entry;
  entry.set_path(path);
  entry.set_mode(0755);
  entry.set_directory(true);
  return entry;
}

SnapshotManifest Manifest(std::vector<ManifestEntry> entries) {
  std::sort(entries.begin(), entries.end(),
            [](const ManifestEntry& a, const ManifestEntry& b) { return a.path() < b.path(); });
  SnapshotManifest manifest;
  for (const auto& entry : entries) *manifest.add_entries() = entry;
  EXPECT_TRUE(common::CheckManifest(manifest).ok()) << common::CheckManifest(manifest);
  return manifest;
}

// Every path below `root`, relative, folders with a trailing '/'.
std::set<std::string> ListTree(const fs::path& root) {
  std::set<std::string> paths;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::string relative = fs::relative(it->path(), root).string();
    if (it->is_directory() && !it->is_symlink()) relative += "/";
    paths.insert(relative);
  }
  return paths;
}

class MaterializeTest : public ::testing::Test {
 protected:
  void SetUp() override { fs::create_directories(dest()); }

  fs::path dest() const { return tmp_.path() / "dest"; }

  void Store(const std::string& content) { ASSERT_TRUE(cache_.Put(content).ok()); }

  ScopedTempDir tmp_;
  common::CasDirectory cache_{tmp_.path() / "cache"};
};

TEST_F(MaterializeTest, WritesFilesWithTheirContent) {
  Store("print('hi')\n");
  Store("weights");
  Store("");
  const SnapshotManifest manifest =
      Manifest({File("train.py", "print('hi')\n"), File("models/w.bin", "weights"),
                File("deep/a/b/c.txt", "weights"), File("empty.txt", "")});
  absl::StatusOr<MaterializeStats> stats = Materialize(manifest, cache_, dest());
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(ReadFile(dest() / "train.py"), "print('hi')\n");
  EXPECT_EQ(ReadFile(dest() / "models" / "w.bin"), "weights");
  EXPECT_EQ(ReadFile(dest() / "deep" / "a" / "b" / "c.txt"), "weights");
  EXPECT_TRUE(fs::is_regular_file(dest() / "empty.txt"));
  EXPECT_EQ(fs::file_size(dest() / "empty.txt"), 0u);
  EXPECT_EQ(stats->files, 4);
  EXPECT_EQ(stats->bytes, 12 + 7 + 7 + 0);
  EXPECT_EQ(ListTree(dest()),
            (std::set<std::string>{"deep/", "deep/a/", "deep/a/b/", "deep/a/b/c.txt", "empty.txt",
                                   "models/", "models/w.bin", "train.py"}));
}

TEST_F(MaterializeTest, ModesAre0644And0755WhateverTheUmask) {
  Store("data");
  Store("#!/bin/sh\n");
  const SnapshotManifest manifest =
      Manifest({File("data.txt", "data"), File("run.sh", "#!/bin/sh\n", 0755)});
  for (mode_t mask : {mode_t{077}, mode_t{0}, mode_t{022}, mode_t{0277}}) {
    SCOPED_TRACE("umask " + std::to_string(mask));
    fs::remove_all(dest());
    fs::create_directories(dest());
    absl::StatusOr<MaterializeStats> stats;
    {
      ScopedUmask umask(mask);
      stats = Materialize(manifest, cache_, dest());
    }
    ASSERT_TRUE(stats.ok()) << stats.status();
    EXPECT_EQ(ModeOf(dest() / "data.txt"), 0644u);
    EXPECT_EQ(ModeOf(dest() / "run.sh"), 0755u);
  }
}

TEST_F(MaterializeTest, EmptyFoldersAreCreated) {
  Store("x");
  const SnapshotManifest manifest = Manifest({Dir("empty"), Dir("a/b/c"), File("a/file", "x")});
  absl::StatusOr<MaterializeStats> stats = Materialize(manifest, cache_, dest());
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_TRUE(fs::is_directory(dest() / "empty"));
  EXPECT_TRUE(fs::is_empty(dest() / "empty"));
  EXPECT_TRUE(fs::is_directory(dest() / "a" / "b" / "c"));
  EXPECT_TRUE(fs::is_empty(dest() / "a" / "b" / "c"));
  EXPECT_EQ(stats->files, 1);
  EXPECT_EQ(ListTree(dest()), (std::set<std::string>{"a/", "a/b/", "a/b/c/", "a/file", "empty/"}));
}

TEST_F(MaterializeTest, FoldersAre0755WhateverTheUmask) {
  Store("x");
  const SnapshotManifest manifest = Manifest({Dir("empty"), File("sub/file", "x")});
  absl::StatusOr<MaterializeStats> stats;
  {
    ScopedUmask umask(077);
    stats = Materialize(manifest, cache_, dest());
  }
  ASSERT_TRUE(stats.ok()) << stats.status();
  // Folders are 0755 by contract, whatever the umask.
  EXPECT_EQ(ModeOf(dest() / "empty"), 0755u);
  EXPECT_EQ(ModeOf(dest() / "sub"), 0755u);
}

TEST_F(MaterializeTest, BlobOfAnotherSizeThanItsEntryIsRefusedNamingTheEntry) {
  Store("hello");
  ManifestEntry entry = File("data/file.txt", "hello");
  entry.set_size(3);
  absl::StatusOr<MaterializeStats> stats = Materialize(Manifest({entry}), cache_, dest());
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(stats.status().message()), HasSubstr("data/file.txt"));
  EXPECT_FALSE(fs::exists(dest() / "data" / "file.txt"));
}

TEST_F(MaterializeTest, LargerBlobThanItsEntryIsRefusedToo) {
  Store("hello");
  ManifestEntry entry = File("f", "hello");
  entry.set_size(50);
  absl::StatusOr<MaterializeStats> stats = Materialize(Manifest({entry}), cache_, dest());
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(stats.status().message()), HasSubstr("'f'"));
}

TEST_F(MaterializeTest, MissingBlobIsRefusedNamingTheEntry) {
  const SnapshotManifest manifest = Manifest({File("never/stored.bin", "not in the cache")});
  absl::StatusOr<MaterializeStats> stats = Materialize(manifest, cache_, dest());
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(stats.status().message()), HasSubstr("never/stored.bin"));
  EXPECT_FALSE(fs::exists(dest() / "never" / "stored.bin"));
}

TEST_F(MaterializeTest, DestThatIsNotAFolderIsAnError) {
  Store("x");
  EXPECT_FALSE(Materialize(Manifest({File("a", "x")}), cache_, tmp_.path() / "missing").ok());
  EXPECT_FALSE(fs::exists(tmp_.path() / "missing"));
}

TEST_F(MaterializeTest, AnExistingFileIsNeverOverwrittenNorFollowed) {
  Store("snapshot content");
  std::ofstream(tmp_.path() / "outside.txt") << "precious";
  fs::create_symlink(tmp_.path() / "outside.txt", dest() / "link.txt");
  absl::StatusOr<MaterializeStats> stats =
      Materialize(Manifest({File("link.txt", "snapshot content")}), cache_, dest());
  EXPECT_FALSE(stats.ok());
  EXPECT_EQ(ReadFile(tmp_.path() / "outside.txt"), "precious");
}

TEST_F(MaterializeTest, FilesAreCopiesNotHardlinksOfTheCache) {
  Store("shared content");
  const SnapshotManifest manifest =
      Manifest({File("a.txt", "shared content"), File("b/a-again.txt", "shared content")});
  absl::StatusOr<MaterializeStats> stats = Materialize(manifest, cache_, dest());
  ASSERT_TRUE(stats.ok()) << stats.status();
  const struct stat blob = Lstat(cache_.PathOf(common::Sha256Hex("shared content")));
  const struct stat a = Lstat(dest() / "a.txt");
  const struct stat again = Lstat(dest() / "b" / "a-again.txt");
  EXPECT_EQ(blob.st_nlink, 1u);
  EXPECT_EQ(a.st_nlink, 1u);
  EXPECT_EQ(again.st_nlink, 1u);
  EXPECT_NE(a.st_ino, blob.st_ino);
  EXPECT_NE(again.st_ino, blob.st_ino);
  EXPECT_NE(a.st_ino, again.st_ino);
}

TEST_F(MaterializeTest, ChangingAMaterializedFileLeavesTheCacheBlobUnchanged) {
  Store("original");
  const SnapshotManifest manifest =
      Manifest({File("data.txt", "original"), File("tool.sh", "original", 0755)});
  ASSERT_TRUE(Materialize(manifest, cache_, dest()).ok());
  const fs::path blob = cache_.PathOf(common::Sha256Hex("original"));
  const mode_t blob_mode = ModeOf(blob);

  std::ofstream(dest() / "data.txt", std::ios::binary | std::ios::trunc)
      << "overwritten by the run";
  std::ofstream(dest() / "tool.sh", std::ios::binary | std::ios::app) << " and appended";
  fs::permissions(dest() / "data.txt", fs::perms(0600));
  EXPECT_EQ(ReadFile(dest() / "data.txt"), "overwritten by the run");
  EXPECT_EQ(ReadFile(blob), "original");
  EXPECT_EQ(common::Sha256File(blob).value_or(""), common::Sha256Hex("original"));
  EXPECT_EQ(ModeOf(blob), blob_mode);
  EXPECT_TRUE(cache_.Has(common::Sha256Hex("original")));
}

TEST_F(MaterializeTest, EmptyManifestWritesNothing) {
  absl::StatusOr<MaterializeStats> stats = Materialize(SnapshotManifest(), cache_, dest());
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->files, 0);
  EXPECT_THAT(ListTree(dest()), IsEmpty());
}

// ------------------------------------------------------------------ PrepareSnapshot

class PrepareSnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    workspace_.root = tmp_.path() / "work" / "runs" / "run_1";
    workspace_.working_dir = workspace_.root / "wd";
    workspace_.user_logs = workspace_.root / "user_logs";
    workspace_.system_logs = workspace_.root / "system_logs";
    for (const auto& dir : {workspace_.working_dir, workspace_.user_logs, workspace_.system_logs}) {
      fs::create_directories(dir);
    }
  }

  // Uploads `manifest` and the given contents to the "server"; returns the snapshot id.
  std::string Upload(const SnapshotManifest& manifest, const std::vector<std::string>& contents) {
    for (const auto& content : contents) EXPECT_TRUE(source_.server().Put(content).ok());
    absl::StatusOr<std::string> id = source_.server().Put(common::SerializeManifest(manifest));
    EXPECT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(id.value_or(""), common::ManifestId(manifest));
    return id.value_or("");
  }

  absl::StatusOr<SnapshotReport> Prepare(const std::string& id) {
    return PrepareSnapshot(id, cache_, source_, workspace_, Materialization::kCopy);
  }

  ScopedTempDir tmp_;
  Workspace workspace_;
  BlobCache cache_{tmp_.path() / "cache", 0};
  FakeBlobSource source_{tmp_.path() / "server"};
};

TEST_F(PrepareSnapshotTest, FetchesWhatTheCacheLacksAndWritesTheTree) {
  const SnapshotManifest manifest =
      Manifest({File("train.py", "print()\n"), File("run.sh", "exit 0\n", 0755),
                File("copy.py", "print()\n"), Dir("empty")});
  const std::string id = Upload(manifest, {"print()\n", "exit 0\n"});
  absl::StatusOr<SnapshotReport> report = Prepare(id);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->files, 3);
  EXPECT_EQ(report->bytes, 8 + 7 + 8);
  EXPECT_EQ(report->blobs, 2);          // distinct contents
  EXPECT_EQ(report->fetched.blobs, 3);  // and the manifest
  EXPECT_FALSE(report->overlay);
  EXPECT_EQ(ListTree(workspace_.working_dir),
            (std::set<std::string>{"copy.py", "empty/", "run.sh", "train.py"}));
  EXPECT_EQ(ModeOf(workspace_.working_dir / "run.sh"), 0755u);
  EXPECT_EQ(ReadFile(workspace_.working_dir / "copy.py"), "print()\n");
  EXPECT_TRUE(cache_.cas().Has(id));
}

TEST_F(PrepareSnapshotTest, SecondRunFetchesNothing) {
  const SnapshotManifest manifest = Manifest({File("a", "aaa")});
  const std::string id = Upload(manifest, {"aaa"});
  ASSERT_TRUE(Prepare(id).ok());
  fs::remove_all(workspace_.working_dir);
  fs::create_directories(workspace_.working_dir);
  absl::StatusOr<SnapshotReport> again = Prepare(id);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->fetched.blobs, 0);
  EXPECT_EQ(again->fetched.bytes, 0);
}

TEST_F(PrepareSnapshotTest, UnknownSnapshotIsNotFound) {
  absl::StatusOr<SnapshotReport> report = Prepare(common::Sha256Hex("never uploaded"));
  EXPECT_EQ(report.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(ListTree(workspace_.working_dir), IsEmpty());
}

TEST_F(PrepareSnapshotTest, FileBlobMissingOnTheServerIsNotFoundAndNotRejected) {
  const SnapshotManifest manifest = Manifest({File("a", "aaa"), File("b", "lost")});
  const std::string id = Upload(manifest, {"aaa"});
  absl::StatusOr<SnapshotReport> report = Prepare(id);
  EXPECT_EQ(report.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PrepareSnapshotTest, BlobsStayPinnedWhileTheReportLives) {
  const SnapshotManifest manifest =
      Manifest({File("a", std::string(1000, 'a')), File("b", std::string(1000, 'b'))});
  const std::string id = Upload(manifest, {std::string(1000, 'a'), std::string(1000, 'b')});
  BlobCache small(tmp_.path() / "small-cache", 1);  // everything is over this quota
  absl::StatusOr<SnapshotReport> report =
      PrepareSnapshot(id, small, source_, workspace_, Materialization::kCopy);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(small.EvictToQuota(), 0);
  EXPECT_TRUE(small.cas().Has(id));
  EXPECT_TRUE(small.cas().Has(common::Sha256Hex(std::string(1000, 'a'))));
  report->pins.reset();
  EXPECT_GT(small.EvictToQuota(), 2000);
  EXPECT_THAT(small.List(), IsEmpty());
  // The run's copies do not depend on the cache.
  EXPECT_EQ(ReadFile(workspace_.working_dir / "b"), std::string(1000, 'b'));
}

// A run folder on an overlay mount of its own. Overlayfs cannot be another overlay's upper
// layer, so the overlay of the auto mode fails there: the run gets copies instead.
class OverlayFallbackTest : public PrepareSnapshotTest {
 protected:
  void SetUp() override {
    if (!testutil::OverlaySupported(tmp_.path()))
      GTEST_SKIP() << "no overlay mounts here (needs root and overlayfs)";
    const fs::path outer = tmp_.path() / "outer";
    for (const char* name : {"lower", "upper", "work", "merged"})
      fs::create_directories(outer / name);
    auto mounted =
        OverlayMount::Mount(outer / "lower", outer / "upper", outer / "work", outer / "merged");
    ASSERT_TRUE(mounted.ok()) << mounted.status();
    outer_mount_ = std::move(*mounted);
    workspace_.root = outer / "merged" / "runs" / "run_1";
    workspace_.working_dir = workspace_.root / "wd";
    fs::create_directories(workspace_.working_dir);
    ForgetOverlayFailure();
  }
  void TearDown() override {
    ForgetOverlayFailure();
    std::error_code ec;
    fs::remove_all(tmp_.path() / "outer" / "merged", ec);
    outer_mount_.reset();
  }

  std::unique_ptr<OverlayMount> outer_mount_;
};

TEST_F(OverlayFallbackTest, FailedMountFallsBackToCopiesAndLeavesNoLinksIntoTheCache) {
  BlobCache cache_beside_the_run(tmp_.path() / "outer" / "merged" / "cache",
                                 0);  // same filesystem: links work
  const std::string id = Upload(Manifest({File("train.py", "print()\n")}), {"print()\n"});
  absl::StatusOr<SnapshotReport> report =
      PrepareSnapshot(id, cache_beside_the_run, source_, workspace_, Materialization::kAuto);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->overlay);
  EXPECT_THAT(report->overlay_failure, HasSubstr("overlay mount on"));
  EXPECT_EQ(ReadFile(workspace_.working_dir / "train.py"), "print()\n");
  struct stat copied {};
  ASSERT_EQ(::stat((workspace_.working_dir / "train.py").c_str(), &copied), 0);
  EXPECT_EQ(copied.st_nlink, 1u);  // a copy, not a link to the cache blob
  // The lower tree (hardlinks into the cache) is gone: the run cannot write through it.
  EXPECT_FALSE(fs::exists(workspace_.root / "snapshot"));
  EXPECT_FALSE(fs::exists(workspace_.root / "overlay"));

  // Later runs of this process copy at once, with nothing more to report.
  fs::remove_all(workspace_.working_dir);
  fs::create_directories(workspace_.working_dir);
  absl::StatusOr<SnapshotReport> again =
      PrepareSnapshot(id, cache_beside_the_run, source_, workspace_, Materialization::kAuto);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->overlay);
  EXPECT_TRUE(again->overlay_failure.empty());
}

TEST_F(OverlayFallbackTest, LinksRefusedAcrossBindMountsFallBackToCopiesEveryTime) {
  // The run folder is a bind mount of another folder on the cache's disk: the same device,
  // yet link(2) across the two mounts fails with EXDEV.
  const fs::path real = tmp_.path() / "real-runs";
  const fs::path bound = tmp_.path() / "bound-runs";
  fs::create_directories(real);
  fs::create_directories(bound);
  ASSERT_EQ(::mount(real.c_str(), bound.c_str(), nullptr, MS_BIND, nullptr), 0) << strerror(errno);
  workspace_.root = bound / "run_1";
  workspace_.working_dir = workspace_.root / "wd";
  fs::create_directories(workspace_.working_dir);
  const std::string id = Upload(Manifest({File("train.py", "print()\n")}), {"print()\n"});
  for (int run = 0; run < 2; ++run) {  // a link failure does not turn the overlay off
    absl::StatusOr<SnapshotReport> report =
        PrepareSnapshot(id, cache_, source_, workspace_, Materialization::kAuto);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_FALSE(report->overlay);
    EXPECT_THAT(report->overlay_failure, HasSubstr("link")) << "run " << run;
    EXPECT_EQ(ReadFile(workspace_.working_dir / "train.py"), "print()\n");
    EXPECT_FALSE(fs::exists(workspace_.root / "snapshot"));
    fs::remove_all(workspace_.working_dir);
    fs::create_directories(workspace_.working_dir);
  }
  ::umount2(bound.c_str(), MNT_DETACH);
}

TEST_F(OverlayFallbackTest, CacheOnAnotherFilesystemGetsCopiesWithoutTryingAnOverlay) {
  const std::string id = Upload(Manifest({File("train.py", "print()\n")}), {"print()\n"});
  absl::StatusOr<SnapshotReport> report =
      PrepareSnapshot(id, cache_, source_, workspace_, Materialization::kAuto);
  ASSERT_TRUE(report.ok()) << report.status();  // hardlinks across filesystems would fail
  EXPECT_FALSE(report->overlay);
  EXPECT_TRUE(report->overlay_failure.empty());
  EXPECT_EQ(ReadFile(workspace_.working_dir / "train.py"), "print()\n");
}

}  // namespace
}  // namespace runyard::runtime
