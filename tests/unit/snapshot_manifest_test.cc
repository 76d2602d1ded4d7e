// Tests for common/snapshot_manifest.h: manifests from the wire checked as hostile input
// (a corpus of manifests ParseManifest must refuse, naming the entry), the guarantee that
// runtime::PrepareSnapshot writes nothing for any of them, valid manifests, the snapshot
// id, and the snapshot size limits.

#include "common/snapshot_manifest.h"

#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/digest.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/scoped_temp_dir.h"
#include "runtime/blob_cache.h"
#include "runtime/observer.h"
#include "runtime/snapshot_stage.h"
#include "runtime/workspace.h"

namespace runyard::common {
namespace {

namespace fs = std::filesystem;
using runyard::v1::ManifestEntry;
using runyard::v1::SnapshotLimits;
using runyard::v1::SnapshotManifest;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr int64_t kGiB = 1LL << 30;

using ::runyard::testutil::ScopedTempDir;

ManifestEntry File(const std::string& path, const std::string& content = "x", uint32_t mode = 0644) {
  ManifestEntry entry;
  entry.set_path(path);
  entry.set_mode(mode);
  entry.set_size(static_cast<int64_t>(content.size()));
  entry.set_digest(Sha256Hex(content));
  return entry;
}

ManifestEntry SizedFile(const std::string& path, int64_t size) {
  ManifestEntry entry = File(path);
  entry.set_size(size);
  return entry;
}

ManifestEntry Dir(const std::string& path) {
  ManifestEntry entry;
  entry.set_path(path);
  entry.set_mode(0755);
  entry.set_directory(true);
  return entry;
}

ManifestEntry With(ManifestEntry entry, void (*change)(ManifestEntry*)) {
  change(&entry);
  return entry;
}

// Entries in the order given (the hostile corpus needs unsorted ones too).
SnapshotManifest Manifest(const std::vector<ManifestEntry>& entries) {
  SnapshotManifest manifest;
  for (const auto& entry : entries) *manifest.add_entries() = entry;
  return manifest;
}

// Entries sorted by path, as a valid manifest needs them.
SnapshotManifest SortedManifest(std::vector<ManifestEntry> entries) {
  std::sort(entries.begin(), entries.end(),
            [](const ManifestEntry& a, const ManifestEntry& b) { return a.path() < b.path(); });
  return Manifest(entries);
}

// ------------------------------------------------------------------ hostile corpus

struct HostileCase {
  std::string name;
  std::string bytes;           // what came over the wire
  ManifestBounds bounds;       // what ParseManifest is given
  std::string names;           // a substring the error must hold: the entry, or what is wrong
  bool default_bounds = true;  // refused under the default bounds too (PrepareSnapshot uses those)
};

HostileCase Case(std::string name, const std::vector<ManifestEntry>& entries, std::string names) {
  HostileCase c;
  c.name = std::move(name);
  c.bytes = SerializeManifest(Manifest(entries));
  c.names = std::move(names);
  return c;
}

std::vector<HostileCase> HostileCorpus() {
  const std::string long_component(256, 'c');
  std::string long_path;
  while (long_path.size() <= 4096) long_path += "dddddddddd/";
  long_path += "f";
  const std::string nul_path("a\0b", 3);

  std::vector<HostileCase> corpus = {
      Case("AbsolutePath", {File("/etc/passwd")}, "'/etc/passwd'"),
      Case("RootOnly", {File("/")}, "'/'"),
      Case("DotDotComponent", {File("a/../../escape")}, "'a/../../escape'"),
      Case("DotDotAlone", {File("..")}, "'..'"),
      Case("DotSlashPrefix", {File("./x")}, "'./x'"),
      Case("DotComponentInside", {File("a/./b")}, "'a/./b'"),
      Case("EmptyComponent", {File("a//b")}, "'a//b'"),
      Case("TrailingSlash", {File("a/")}, "'a/'"),
      Case("TrailingSlashOnAFolder", {Dir("a/b/")}, "'a/b/'"),
      Case("EmptyPath", {File("")}, "snapshot entry ''"),
      Case("NulByteInName", {File(nul_path)}, "NUL"),
      Case("ComponentOver255Bytes", {File("a/" + long_component)}, long_component),
      Case("PathOver4096Bytes", {File(long_path)}, long_path.substr(0, 64)),
      Case("DuplicatePath", {File("a"), File("a")}, "'a' refused: duplicate"),
      Case("DuplicateFileAndFolder", {File("a"), Dir("a")}, "'a' refused: duplicate"),
      Case("UnsortedEntries", {File("b"), File("a")}, "'a' refused: entries are not sorted"),
      Case("FileThenItsChild", {File("a"), File("a/b")}, "'a/b'"),
      Case("FileThenItsChildWithASiblingBetween", {File("a"), File("a-b"), File("a/b")}, "'a/b'"),
      Case("FileThenADeepChild", {File("a/b"), File("a/b/c/d")}, "'a/b/c/d'"),
      Case("FileThenAFolderBelowIt", {File("a"), Dir("a/b")}, "'a/b'"),
      Case("ModeSetuid", {File("x", "x", 04755)}, "'x' refused: mode 4755"),
      Case("ModeSetgid", {File("x", "x", 02644)}, "'x' refused: mode 2644"),
      Case("ModeSticky", {File("x", "x", 01644)}, "'x' refused: mode 1644"),
      Case("ModeWorldWritable", {File("x", "x", 0777)}, "'x' refused: mode 777"),
      Case("ModeGroupWritable", {File("x", "x", 0664)}, "'x' refused: mode 664"),
      Case("ModeWithFileTypeBits", {File("x", "x", 0100644)}, "'x' refused: mode 100644"),
      Case("ModeZero", {File("x", "x", 0)}, "'x' refused: mode 0"),
      Case("DigestUppercase",
           {With(File("x"), [](ManifestEntry* e) {
              std::string upper = e->digest();
              std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
              e->set_digest(upper);
            })},
           "'x' refused: digest"),
      Case("DigestTooShort", {With(File("x"), [](ManifestEntry* e) { e->set_digest(e->digest().substr(1)); })},
           "'x' refused: digest"),
      Case("DigestTooLong", {With(File("x"), [](ManifestEntry* e) { e->set_digest(e->digest() + "0"); })},
           "'x' refused: digest"),
      Case("DigestNotHex", {With(File("x"), [](ManifestEntry* e) { e->set_digest(std::string(64, 'g')); })},
           "'x' refused: digest"),
      Case("DigestAPath", {With(File("x"), [](ManifestEntry* e) { e->set_digest("../../" + std::string(58, 'a')); })},
           "'x' refused: digest"),
      Case("FileWithoutDigest", {With(File("x"), [](ManifestEntry* e) { e->clear_digest(); })},
           "'x' refused: digest"),
      Case("NegativeSize", {SizedFile("x", -1)}, "'x' refused: size"),
      Case("SizeOverMaxEntryBytes", {SizedFile("x", 64 * kGiB + 1)}, "'x' refused: size"),
      Case("TotalOverMaxTotalBytes",
           {SizedFile("a", 60 * kGiB), SizedFile("b", 60 * kGiB), SizedFile("c", 60 * kGiB),
            SizedFile("d", 60 * kGiB), SizedFile("e", 60 * kGiB)},
           "'e' refused: snapshot is larger"),
      Case("FolderWithADigest", {With(Dir("d"), [](ManifestEntry* e) { e->set_digest(Sha256Hex("x")); })},
           "'d' refused: a folder entry"),
      Case("FolderWithASize", {With(Dir("d"), [](ManifestEntry* e) { e->set_size(10); })},
           "'d' refused: a folder entry"),
      Case("FolderWithMode0777", {With(Dir("d"), [](ManifestEntry* e) { e->set_mode(0777); })},
           "'d' refused: a folder entry"),
      Case("FolderWithSetgid", {With(Dir("d"), [](ManifestEntry* e) { e->set_mode(02755); })},
           "'d' refused: a folder entry"),
      Case("HostileEntryAfterGoodOnes", {File("a"), File("b"), File("c/../../x")}, "'c/../../x'"),
  };

  HostileCase garbage;
  garbage.name = "GarbageNotAProtobuf";
  garbage.bytes = std::string("\x0a\x40" "abc", 5);  // field 1 claims 64 bytes, 3 follow
  garbage.names = "not a valid manifest";
  corpus.push_back(garbage);

  HostileCase wrong_wire_type;
  wrong_wire_type.name = "EntriesFieldWithTheWrongWireType";
  wrong_wire_type.bytes = std::string("\x0d\x01\x02\x03", 4);  // field 1 as a 32-bit value, truncated
  wrong_wire_type.names = "not a valid manifest";
  corpus.push_back(wrong_wire_type);

  HostileCase not_utf8;
  not_utf8.name = "PathNotUtf8";
  not_utf8.bytes = std::string("\x0a\x03\x0a\x01\xff", 5);  // entries { path: "\xff" }
  not_utf8.names = "not a valid manifest";
  corpus.push_back(not_utf8);

  HostileCase too_many;
  too_many.name = "MoreEntriesThanTheBound";
  too_many.bytes = SerializeManifest(Manifest({File("a"), File("b"), File("c")}));
  too_many.bounds.max_entries = 2;
  too_many.names = "3 entries, more than 2";
  too_many.default_bounds = false;
  corpus.push_back(too_many);

  HostileCase entry_bound;
  entry_bound.name = "SizeOverACustomEntryBound";
  entry_bound.bytes = SerializeManifest(Manifest({SizedFile("a", 10), SizedFile("big", 11)}));
  entry_bound.bounds.max_entry_bytes = 10;
  entry_bound.names = "'big' refused: size";
  entry_bound.default_bounds = false;
  corpus.push_back(entry_bound);

  HostileCase total_bound;
  total_bound.name = "TotalOverACustomBound";
  total_bound.bytes = SerializeManifest(Manifest({SizedFile("a", 60), SizedFile("b", 60)}));
  total_bound.bounds.max_total_bytes = 100;
  total_bound.names = "'b' refused: snapshot is larger";
  total_bound.default_bounds = false;
  corpus.push_back(total_bound);

  HostileCase too_large;
  too_large.name = "ManifestBytesOverTheBound";
  too_large.bytes = SerializeManifest(Manifest({File("a"), File("b"), File("c")}));
  too_large.bounds.max_manifest_bytes = static_cast<int64_t>(too_large.bytes.size()) - 1;
  too_large.names = "too large";
  too_large.default_bounds = false;
  corpus.push_back(too_large);
  return corpus;
}

class HostileManifestTest : public ::testing::TestWithParam<HostileCase> {};

TEST_P(HostileManifestTest, ParseManifestRefusesItNamingTheEntry) {
  const HostileCase& c = GetParam();
  absl::StatusOr<SnapshotManifest> parsed = ParseManifest(c.bytes, c.bounds);
  ASSERT_FALSE(parsed.ok()) << c.name << " was accepted";
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kFailedPrecondition) << parsed.status();
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.names));
}

TEST_P(HostileManifestTest, CheckManifestRefusesTheParsedMessageToo) {
  const HostileCase& c = GetParam();
  SnapshotManifest manifest;
  // Not a protobuf, or refused by its byte size: only ParseManifest sees those.
  if (!manifest.ParseFromString(c.bytes) || static_cast<int64_t>(c.bytes.size()) > c.bounds.max_manifest_bytes) {
    return;
  }
  absl::Status checked = CheckManifest(manifest, c.bounds);
  EXPECT_EQ(checked.code(), absl::StatusCode::kFailedPrecondition) << checked;
  EXPECT_THAT(std::string(checked.message()), HasSubstr(c.names));
}

TEST_P(HostileManifestTest, RefusedUnderTheDefaultBoundsWhereMarkedSo) {
  const HostileCase& c = GetParam();
  if (!c.default_bounds) {
    // Within the defaults it is a fine manifest: only the custom bound refused it.
    EXPECT_TRUE(ParseManifest(c.bytes).ok()) << ParseManifest(c.bytes).status();
    return;
  }
  EXPECT_EQ(ParseManifest(c.bytes).status().code(), absl::StatusCode::kFailedPrecondition);
}

INSTANTIATE_TEST_SUITE_P(Corpus, HostileManifestTest, ::testing::ValuesIn(HostileCorpus()),
                         [](const ::testing::TestParamInfo<HostileCase>& info) { return info.param.name; });

TEST(HostileCorpusTest, HoldsAtLeastFifteenManifests) { EXPECT_GE(HostileCorpus().size(), 15u); }

// ------------------------------------------------------------------ PrepareSnapshot writes nothing

// Every path below `root`, relative, folders with a trailing '/'.
std::set<std::string> ListTree(const fs::path& root) {
  std::set<std::string> paths;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::string relative = fs::relative(it->path(), root).string();
    if (it->is_directory() && !it->is_symlink()) relative += "/";
    paths.insert(relative);
  }
  return paths;
}

// Has nothing to give: the manifest is already in the cache.
class NothingToFetch : public runtime::BlobSource {
 public:
  absl::StatusOr<runtime::FetchStats> FetchMissing(const std::vector<std::string>& digests,
                                                   CasDirectory& cache) override {
    std::lock_guard lock(mutex_);
    for (const auto& digest : digests) {
      asked_.push_back(digest);
      if (!cache.Has(digest)) return absl::NotFoundError("no blob " + digest);
    }
    return runtime::FetchStats{};
  }
  std::vector<std::string> asked() {
    std::lock_guard lock(mutex_);
    return asked_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> asked_;
};

TEST(HostileManifestPrepareTest, PrepareSnapshotWritesNothingForAnyHostileManifest) {
  for (const HostileCase& c : HostileCorpus()) {
    if (!c.default_bounds) continue;
    for (runtime::Materialization mode :
         {runtime::Materialization::kCopy, runtime::Materialization::kAuto, runtime::Materialization::kOverlay}) {
      SCOPED_TRACE(c.name + " materialization " + std::to_string(static_cast<int>(mode)));
      ScopedTempDir tmp;
      runtime::BlobCache cache(tmp.path() / "cache", 0);
      // Content blobs a hostile manifest could refer to are there too, so only the checks stop it.
      ASSERT_TRUE(cache.cas().Put("x").ok());
      absl::StatusOr<std::string> id = cache.cas().Put(c.bytes);
      ASSERT_TRUE(id.ok()) << id.status();
      ASSERT_EQ(*id, Sha256Hex(c.bytes));

      runtime::Workspace workspace;
      workspace.root = tmp.path() / "work" / "runs" / "run_1";
      workspace.working_dir = workspace.root / "wd";
      workspace.user_logs = workspace.root / "user_logs";
      workspace.system_logs = workspace.root / "system_logs";
      for (const auto& dir : {workspace.working_dir, workspace.user_logs, workspace.system_logs}) {
        fs::create_directories(dir);
      }
      const std::set<std::string> before = ListTree(tmp.path());

      NothingToFetch source;
      absl::StatusOr<runtime::SnapshotReport> report =
          runtime::PrepareSnapshot(*id, cache, source, workspace, mode);
      ASSERT_FALSE(report.ok());
      EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition) << report.status();
      EXPECT_EQ(ListTree(tmp.path()), before);
      EXPECT_THAT(ListTree(workspace.working_dir), IsEmpty());
      EXPECT_THAT(source.asked(), ::testing::ElementsAre(*id));  // never asked for a file blob
      EXPECT_TRUE(cache.cas().Has(*id));
    }
  }
}

TEST(HostileManifestPrepareTest, SnapshotIdThatIsNotADigestIsRefusedBeforeAnyFetch) {
  ScopedTempDir tmp;
  runtime::BlobCache cache(tmp.path() / "cache", 0);
  runtime::Workspace workspace;
  workspace.root = tmp.path() / "run";
  workspace.working_dir = workspace.root / "wd";
  fs::create_directories(workspace.working_dir);
  const std::set<std::string> before = ListTree(tmp.path());
  NothingToFetch source;
  for (const std::string& id : {std::string("../../etc/passwd"), std::string(64, 'A'), std::string()}) {
    absl::StatusOr<runtime::SnapshotReport> report =
        runtime::PrepareSnapshot(id, cache, source, workspace, runtime::Materialization::kCopy);
    EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition) << id;
  }
  EXPECT_THAT(source.asked(), IsEmpty());
  EXPECT_EQ(ListTree(tmp.path()), before);
}

// ------------------------------------------------------------------ valid manifests

TEST(ValidManifestTest, EmptyManifestIsValid) {
  absl::StatusOr<SnapshotManifest> parsed = ParseManifest("");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->entries_size(), 0);
}

TEST(ValidManifestTest, TypicalTreeRoundTrips) {
  const SnapshotManifest manifest = SortedManifest({
      File("train.py", "print()\n"),
      File("run.sh", "#!/bin/sh\n", 0755),
      File("a-b", "sibling"),
      File("a/b", "child"),
      File("a/c/d.txt", "deep"),
      Dir("a/empty"),
      Dir("empty"),
      File("zero", ""),
      File("same-content-1", "dup"),
      File("same-content-2", "dup"),
      File("donn\xc3\xa9" "es/\xc3\xa9t\xc3\xa9.txt", "unicode"),
      File("with space/and more.txt", "s"),
      File(".hidden", "h"),
      File("...", "three dots is a name"),
      File("..a", "so is this"),
      File("a/.../b", "and this"),
  });
  absl::StatusOr<SnapshotManifest> parsed = ParseManifest(SerializeManifest(manifest));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->entries_size(), manifest.entries_size());
  EXPECT_EQ(SerializeManifest(*parsed), SerializeManifest(manifest));
}

TEST(ValidManifestTest, LengthsExactlyAtTheLimitsAreValid) {
  std::string path_4096;
  while (path_4096.size() + 11 < 4096) path_4096 += "dddddddddd/";
  path_4096 += std::string(4096 - path_4096.size(), 'f');
  ASSERT_EQ(path_4096.size(), 4096u);
  const SnapshotManifest manifest = SortedManifest({File(std::string(255, 'c')), File(path_4096)});
  EXPECT_TRUE(ParseManifest(SerializeManifest(manifest)).ok()) << ParseManifest(SerializeManifest(manifest)).status();
}

TEST(ValidManifestTest, ValuesExactlyAtTheBoundsAreValid) {
  const SnapshotManifest manifest = Manifest({SizedFile("a", 40), SizedFile("b", 60)});
  const std::string bytes = SerializeManifest(manifest);
  ManifestBounds bounds;
  bounds.max_entries = 2;
  bounds.max_entry_bytes = 60;
  bounds.max_total_bytes = 100;
  bounds.max_manifest_bytes = static_cast<int64_t>(bytes.size());
  EXPECT_TRUE(ParseManifest(bytes, bounds).ok()) << ParseManifest(bytes, bounds).status();
}

TEST(ValidManifestTest, LargeSizesWithinTheDefaultBoundsAreValid) {
  const SnapshotManifest manifest = Manifest({SizedFile("a", 64 * kGiB), SizedFile("b", 64 * kGiB)});
  EXPECT_TRUE(CheckManifest(manifest).ok());
}

// ------------------------------------------------------------------ snapshot id

TEST(ManifestIdTest, IsTheSha256OfTheSerializedManifest) {
  const SnapshotManifest manifest = SortedManifest({File("a", "1"), File("b/c", "2"), Dir("d")});
  EXPECT_EQ(ManifestId(manifest), Sha256Hex(SerializeManifest(manifest)));
  EXPECT_TRUE(IsValidDigest(ManifestId(manifest)));
}

TEST(ManifestIdTest, EmptyManifestHasTheDigestOfNoBytes) {
  EXPECT_EQ(ManifestId(SnapshotManifest()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(ManifestIdTest, IsStableAcrossCopiesAndRoundTrips) {
  const SnapshotManifest manifest = SortedManifest({File("a", "1"), File("b/c", "2", 0755), Dir("d")});
  const std::string id = ManifestId(manifest);
  EXPECT_EQ(ManifestId(manifest), id);
  SnapshotManifest copy = manifest;
  EXPECT_EQ(ManifestId(copy), id);
  absl::StatusOr<SnapshotManifest> parsed = ParseManifest(SerializeManifest(manifest));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(ManifestId(*parsed), id);
  // Built again from scratch, entry by entry.
  EXPECT_EQ(ManifestId(SortedManifest({Dir("d"), File("b/c", "2", 0755), File("a", "1")})), id);
}

TEST(ManifestIdTest, AnyChangeGivesAnotherId) {
  const SnapshotManifest base = SortedManifest({File("a", "1"), File("b", "2")});
  const std::string id = ManifestId(base);
  EXPECT_NE(ManifestId(SortedManifest({File("a", "1"), File("b", "3")})), id);         // content
  EXPECT_NE(ManifestId(SortedManifest({File("a", "1"), File("c", "2")})), id);         // name
  EXPECT_NE(ManifestId(SortedManifest({File("a", "1"), File("b", "2", 0755)})), id);   // mode
  EXPECT_NE(ManifestId(SortedManifest({File("a", "1"), File("b", "2"), Dir("e")})), id);  // folder
}

// ------------------------------------------------------------------ limits

SnapshotLimits Limits(int64_t bytes, int64_t files) {
  SnapshotLimits limits;
  limits.set_max_bytes(bytes);
  limits.set_max_files(files);
  return limits;
}

TEST(TotalsTest, CountsFilesAndBytesButNotFolders) {
  const ManifestTotals totals = Totals(SortedManifest({SizedFile("a", 10), SizedFile("b/c", 5), Dir("d")}));
  EXPECT_EQ(totals.files, 2);
  EXPECT_EQ(totals.bytes, 15);
}

TEST(CheckSnapshotLimitsTest, UnderAndExactlyAtTheLimitsPasses) {
  const SnapshotManifest manifest = SortedManifest({SizedFile("a", 600), SizedFile("b", 400), Dir("e")});
  EXPECT_TRUE(CheckSnapshotLimits(manifest, Limits(2000, 10)).ok());
  EXPECT_TRUE(CheckSnapshotLimits(manifest, Limits(1000, 2)).ok());  // folders are not files
}

TEST(CheckSnapshotLimitsTest, ZeroLimitsMeanNoLimit) {
  const SnapshotManifest manifest = SortedManifest({SizedFile("a", 100 * kGiB), SizedFile("b", 1)});
  EXPECT_TRUE(CheckSnapshotLimits(manifest, Limits(0, 0)).ok());
  EXPECT_FALSE(CheckSnapshotLimits(manifest, Limits(0, 1)).ok());
  EXPECT_FALSE(CheckSnapshotLimits(manifest, Limits(1000, 0)).ok());
}

TEST(CheckSnapshotLimitsTest, OverTheSizeNamesTheLargestFilesAndFoldersAndTheOverride) {
  const SnapshotManifest manifest = SortedManifest({
      SizedFile("data/big.bin", 500'000),
      SizedFile("data/small.csv", 1'000),
      SizedFile("models/huge.pt", 900'000),
      SizedFile("train.py", 2'000),
      SizedFile("src/a.py", 10),
      SizedFile("src/b.py", 11),
      SizedFile("src/c.py", 12),
  });
  absl::Status status = CheckSnapshotLimits(manifest, Limits(1'000'000, 2000));
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  const std::string message(status.message());
  EXPECT_THAT(message, HasSubstr("1.4 MB in 7 files"));
  EXPECT_THAT(message, HasSubstr("the limit is 1.0 MB and 2000 files"));
  EXPECT_THAT(message, HasSubstr("size exceeded"));
  EXPECT_THAT(message, HasSubstr("900.0 KB  models/huge.pt"));
  EXPECT_THAT(message, HasSubstr("500.0 KB  data/big.bin"));
  EXPECT_LT(message.find("models/huge.pt"), message.find("data/big.bin"));  // largest first
  EXPECT_THAT(message, Not(HasSubstr("src/a.py")));                        // only the top five
  EXPECT_THAT(message, HasSubstr("largest folders"));
  EXPECT_THAT(message, HasSubstr("models/"));
  EXPECT_THAT(message, HasSubstr("501.0 KB in 2 files  data/"));
  EXPECT_THAT(message, HasSubstr(".amlignore"));
  EXPECT_THAT(message, HasSubstr("--max-snapshot-mb"));
}

TEST(CheckSnapshotLimitsTest, OverTheFileCountSaysSo) {
  std::vector<ManifestEntry> entries;
  for (int i = 0; i < 5; ++i) entries.push_back(SizedFile("f" + std::to_string(i), 1));
  absl::Status status = CheckSnapshotLimits(SortedManifest(entries), Limits(1'000'000, 4));
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  const std::string message(status.message());
  EXPECT_THAT(message, HasSubstr("5 files"));
  EXPECT_THAT(message, HasSubstr("4 files"));
  EXPECT_THAT(message, HasSubstr("file count exceeded"));
  EXPECT_THAT(message, HasSubstr("--max-snapshot-files"));
}

TEST(EffectiveLimitsTest, UnsetFieldsComeFromTheDefaults) {
  const SnapshotLimits defaults = Limits(kDefaultMaxSnapshotBytes, kDefaultMaxSnapshotFiles);
  SnapshotLimits effective = EffectiveLimits(SnapshotLimits(), defaults);
  EXPECT_EQ(effective.max_bytes(), 300'000'000);
  EXPECT_EQ(effective.max_files(), 2000);

  SnapshotLimits only_bytes;
  only_bytes.set_max_bytes(5);
  effective = EffectiveLimits(only_bytes, defaults);
  EXPECT_EQ(effective.max_bytes(), 5);
  EXPECT_EQ(effective.max_files(), 2000);

  SnapshotLimits only_files;
  only_files.set_max_files(7);
  effective = EffectiveLimits(only_files, defaults);
  EXPECT_EQ(effective.max_bytes(), 300'000'000);
  EXPECT_EQ(effective.max_files(), 7);

  effective = EffectiveLimits(Limits(1, 2), defaults);
  EXPECT_EQ(effective.max_bytes(), 1);
  EXPECT_EQ(effective.max_files(), 2);
}

TEST(EffectiveLimitsTest, NegativeValuesCountAsUnset) {
  const SnapshotLimits effective = EffectiveLimits(Limits(-1, -5), Limits(100, 10));
  EXPECT_EQ(effective.max_bytes(), 100);
  EXPECT_EQ(effective.max_files(), 10);
}

TEST(HumanBytesTest, PowersOfAThousand) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(999), "999 B");
  EXPECT_EQ(HumanBytes(1000), "1.0 KB");
  EXPECT_EQ(HumanBytes(1'500'000), "1.5 MB");
  EXPECT_EQ(HumanBytes(300'000'000), "300.0 MB");
  EXPECT_EQ(HumanBytes(2'500'000'000), "2.50 GB");
}

}  // namespace
}  // namespace runyard::common
