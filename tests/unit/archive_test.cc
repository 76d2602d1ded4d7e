// Tests for runtime/archive.h: packing a source folder into a snapshot and unpacking a
// snapshot that must be treated as hostile.

#include "runtime/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "common/digest.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::runtime {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

using ::runyard::testutil::ScopedTempDir;

void WriteFile(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary) << text;
}

std::string ReadFile(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every path below `root`, relative, folders with a trailing '/'.
std::set<std::string> ListTree(const fs::path& root) {
  std::set<std::string> paths;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    std::string relative = entry.path().lexically_relative(root).generic_string();
    if (entry.is_directory() && !entry.is_symlink()) relative += "/";
    paths.insert(relative);
  }
  return paths;
}

// One entry of a hand-made (possibly hostile) archive.
struct Entry {
  std::string path;
  unsigned int type = AE_IFREG;
  int perm = 0644;
  std::string data;
  std::string symlink;   // for AE_IFLNK
  std::string hardlink;  // target of a hard link entry
};

Entry File(std::string path, std::string data, int perm = 0644) {
  Entry entry;
  entry.path = std::move(path);
  entry.data = std::move(data);
  entry.perm = perm;
  return entry;
}

Entry Folder(std::string path) {
  Entry entry;
  entry.path = std::move(path);
  entry.type = AE_IFDIR;
  entry.perm = 0755;
  return entry;
}

Entry Symlink(std::string path, std::string target) {
  Entry entry;
  entry.path = std::move(path);
  entry.type = AE_IFLNK;
  entry.perm = 0777;
  entry.symlink = std::move(target);
  return entry;
}

Entry Hardlink(std::string path, std::string target) {
  Entry entry;
  entry.path = std::move(path);
  entry.hardlink = std::move(target);
  return entry;
}

Entry Special(std::string path, unsigned int type) {
  Entry entry;
  entry.path = std::move(path);
  entry.type = type;
  entry.perm = 0666;
  return entry;
}

ExtractLimits MaxEntries(int64_t n) {
  ExtractLimits limits;
  limits.max_entries = n;
  return limits;
}

ExtractLimits MaxEntryBytes(int64_t n) {
  ExtractLimits limits;
  limits.max_entry_bytes = n;
  return limits;
}

ExtractLimits MaxTotalBytes(int64_t n) {
  ExtractLimits limits;
  limits.max_total_bytes = n;
  return limits;
}

// Writes `entries` as a gzip'd pax tar with libarchive directly, bypassing every check of
// PackDirectory.
void WriteArchive(const fs::path& file, const std::vector<Entry>& entries) {
  struct archive* writer = archive_write_new();
  ASSERT_EQ(archive_write_set_format_pax_restricted(writer), ARCHIVE_OK);
  ASSERT_EQ(archive_write_add_filter_gzip(writer), ARCHIVE_OK);
  ASSERT_EQ(archive_write_open_filename(writer, file.c_str()), ARCHIVE_OK)
      << archive_error_string(writer);
  for (const Entry& spec : entries) {
    struct archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, spec.path.c_str());
    archive_entry_set_filetype(entry, spec.type);
    archive_entry_set_perm(entry, spec.perm);
    if (!spec.symlink.empty()) archive_entry_set_symlink(entry, spec.symlink.c_str());
    if (!spec.hardlink.empty()) archive_entry_set_hardlink(entry, spec.hardlink.c_str());
    if (spec.type == AE_IFCHR) {
      archive_entry_set_rdevmajor(entry, 1);
      archive_entry_set_rdevminor(entry, 3);
    }
    const bool has_data = spec.type == AE_IFREG && spec.hardlink.empty();
    archive_entry_set_size(entry, has_data ? static_cast<la_int64_t>(spec.data.size()) : 0);
    ASSERT_EQ(archive_write_header(writer, entry), ARCHIVE_OK) << archive_error_string(writer);
    if (has_data && !spec.data.empty()) {
      ASSERT_EQ(archive_write_data(writer, spec.data.data(), spec.data.size()),
                static_cast<la_ssize_t>(spec.data.size()));
    }
    archive_entry_free(entry);
  }
  ASSERT_EQ(archive_write_close(writer), ARCHIVE_OK) << archive_error_string(writer);
  archive_write_free(writer);
}

// ------------------------------------------------------------------ packing

class PackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = tmp_.path() / "src";
    WriteFile(source_ / "train.py", "print('hello')\n");
    WriteFile(source_ / "data" / "numbers.csv", "1,2,3\n");
    WriteFile(source_ / "run.sh", "#!/bin/sh\necho run\n");
    fs::permissions(source_ / "run.sh", fs::perms::owner_all | fs::perms::group_read |
                                            fs::perms::group_exec | fs::perms::others_read |
                                            fs::perms::others_exec);
    fs::create_directories(source_ / "empty");
    WriteFile(source_ / ".git" / "config", "[core]\n");
    WriteFile(source_ / ".git" / "objects" / "ab" / "cdef", "blob");
    dest_ = tmp_.path() / "dest";
    fs::create_directories(dest_);
  }

  absl::Status PackAndExtract() {
    absl::StatusOr<PackStats> stats = PackDirectory(source_, tmp_.path() / "snapshot.tar.gz");
    if (!stats.ok()) return stats.status();
    return ExtractArchive(tmp_.path() / "snapshot.tar.gz", dest_);
  }

  ScopedTempDir tmp_;
  fs::path source_;
  fs::path dest_;
};

TEST_F(PackTest, RoundTripKeepsContent) {
  ASSERT_TRUE(PackAndExtract().ok());
  EXPECT_EQ(ReadFile(dest_ / "train.py"), "print('hello')\n");
  EXPECT_EQ(ReadFile(dest_ / "data" / "numbers.csv"), "1,2,3\n");
  EXPECT_EQ(ReadFile(dest_ / "run.sh"), "#!/bin/sh\necho run\n");
  EXPECT_TRUE(fs::is_directory(dest_ / "empty"));
}

TEST_F(PackTest, RoundTripKeepsTheExecutableBit) {
  ASSERT_TRUE(PackAndExtract().ok());
  EXPECT_NE(fs::status(dest_ / "run.sh").permissions() & fs::perms::owner_exec, fs::perms::none);
  EXPECT_EQ(fs::status(dest_ / "train.py").permissions() & fs::perms::owner_exec, fs::perms::none);
}

TEST_F(PackTest, LeavesOutTheGitFolder) {
  ASSERT_TRUE(PackAndExtract().ok());
  EXPECT_FALSE(fs::exists(dest_ / ".git"));
}

TEST_F(PackTest, LeavesOutSymlinks) {
  fs::create_symlink("/etc/passwd", source_ / "passwd_link");
  fs::create_directory_symlink("/etc", source_ / "etc_link");
  ASSERT_TRUE(PackAndExtract().ok());
  EXPECT_FALSE(fs::exists(fs::symlink_status(dest_ / "passwd_link")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(dest_ / "etc_link")));
}

TEST_F(PackTest, ExtractsExactlyWhatWasPacked) {
  ASSERT_TRUE(PackAndExtract().ok());
  EXPECT_THAT(ListTree(dest_),
              UnorderedElementsAre("train.py", "run.sh", "data/", "data/numbers.csv", "empty/"));
}

TEST_F(PackTest, StatsCountFilesAndBytes) {
  absl::StatusOr<PackStats> stats = PackDirectory(source_, tmp_.path() / "snapshot.tar.gz");
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->files, 3);
  EXPECT_EQ(stats->bytes, static_cast<int64_t>(std::string("print('hello')\n").size() +
                                               std::string("1,2,3\n").size() +
                                               std::string("#!/bin/sh\necho run\n").size()));
}

TEST_F(PackTest, IsDeterministic) {
  ASSERT_TRUE(PackDirectory(source_, tmp_.path() / "first.tar.gz").ok());
  ASSERT_TRUE(PackDirectory(source_, tmp_.path() / "second.tar.gz").ok());
  absl::StatusOr<std::string> first = common::Sha256File(tmp_.path() / "first.tar.gz");
  absl::StatusOr<std::string> second = common::Sha256File(tmp_.path() / "second.tar.gz");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(*first, *second);
}

TEST_F(PackTest, DigestDoesNotDependOnModificationTimes) {
  ASSERT_TRUE(PackDirectory(source_, tmp_.path() / "first.tar.gz").ok());
  fs::last_write_time(source_ / "train.py",
                      fs::last_write_time(source_ / "train.py") - std::chrono::hours(24));
  ASSERT_TRUE(PackDirectory(source_, tmp_.path() / "second.tar.gz").ok());
  EXPECT_EQ(*common::Sha256File(tmp_.path() / "first.tar.gz"),
            *common::Sha256File(tmp_.path() / "second.tar.gz"));
}

TEST_F(PackTest, DigestChangesWithContent) {
  ASSERT_TRUE(PackDirectory(source_, tmp_.path() / "first.tar.gz").ok());
  WriteFile(source_ / "train.py", "print('changed')\n");
  ASSERT_TRUE(PackDirectory(source_, tmp_.path() / "second.tar.gz").ok());
  EXPECT_NE(*common::Sha256File(tmp_.path() / "first.tar.gz"),
            *common::Sha256File(tmp_.path() / "second.tar.gz"));
}

TEST(PackDirectoryTest, MissingSourceIsNotFound) {
  ScopedTempDir tmp;
  absl::StatusOr<PackStats> stats = PackDirectory(tmp.path() / "absent", tmp.path() / "x.tar.gz");
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kNotFound);
}

// ------------------------------------------------------------------ hostile archives

// Layout: <tmp>/in/snapshot.tar.gz is unpacked into <tmp>/dest; <tmp> must hold nothing
// else afterwards.
class HostileArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(tmp_.path() / "in");
    fs::create_directories(dest());
  }

  fs::path dest() const { return tmp_.path() / "dest"; }
  fs::path archive() const { return tmp_.path() / "in" / "snapshot.tar.gz"; }

  // Extracts `entries` and expects a refusal naming `named`.
  void ExpectRefused(const std::vector<Entry>& entries, const std::string& named,
                     const ExtractLimits& limits = {}) {
    ASSERT_NO_FATAL_FAILURE(WriteArchive(archive(), entries));
    absl::Status status = ExtractArchive(archive(), dest(), limits);
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr("'" + named + "'"));
    ExpectNothingOutsideDest();
  }

  void ExpectNothingOutsideDest() {
    std::set<std::string> top;
    for (const auto& entry : fs::directory_iterator(tmp_.path())) {
      top.insert(entry.path().filename().string());
    }
    EXPECT_THAT(top, UnorderedElementsAre("in", "dest"));
    EXPECT_THAT(ListTree(tmp_.path() / "in"), UnorderedElementsAre("snapshot.tar.gz"));
  }

  ScopedTempDir tmp_;
};

TEST_F(HostileArchiveTest, WellFormedArchiveIsAccepted) {
  ASSERT_NO_FATAL_FAILURE(WriteArchive(archive(), {Folder("./a"), File("./a/b.txt", "b")}));
  ASSERT_TRUE(ExtractArchive(archive(), dest()).ok());
  EXPECT_EQ(ReadFile(dest() / "a" / "b.txt"), "b");
}

TEST_F(HostileArchiveTest, ImpliedParentFoldersAreCreated) {
  ASSERT_NO_FATAL_FAILURE(WriteArchive(archive(), {File("x/y/z.txt", "z")}));
  ASSERT_TRUE(ExtractArchive(archive(), dest()).ok());
  EXPECT_EQ(ReadFile(dest() / "x" / "y" / "z.txt"), "z");
}

TEST_F(HostileArchiveTest, AbsolutePathIsRefused) {
  const std::string evil = (tmp_.path() / "evil").string();
  ExpectRefused({File(evil, "pwned")}, evil);
  EXPECT_FALSE(fs::exists(evil));
}

TEST_F(HostileArchiveTest, ParentPathIsRefused) {
  ExpectRefused({File("../evil", "pwned")}, "../evil");
}

TEST_F(HostileArchiveTest, PathClimbingOutThroughASubfolderIsRefused) {
  ExpectRefused({File("a/../../evil", "pwned")}, "a/../../evil");
}

TEST_F(HostileArchiveTest, SymlinkEntryIsRefused) {
  ExpectRefused({Symlink("link", "..")}, "link");
  EXPECT_FALSE(fs::exists(fs::symlink_status(dest() / "link")));
}

TEST_F(HostileArchiveTest, SymlinkThenFileThroughItIsRefused) {
  ExpectRefused({Symlink("link", ".."), File("link/evil", "pwned")}, "link");
}

TEST_F(HostileArchiveTest, HardlinkEntryIsRefused) {
  ExpectRefused({File("a.txt", "a"), Hardlink("b.txt", "a.txt")}, "b.txt");
}

TEST_F(HostileArchiveTest, HardlinkToAFileOutsideIsRefused) {
  ExpectRefused({Hardlink("passwd", "/etc/passwd")}, "passwd");
}

TEST_F(HostileArchiveTest, SetuidFileIsRefused) {
  ExpectRefused({File("suid", "#!/bin/sh\n", 04755)}, "suid");
  EXPECT_FALSE(fs::exists(dest() / "suid"));
}

TEST_F(HostileArchiveTest, SetgidFileIsRefused) {
  ExpectRefused({File("sgid", "#!/bin/sh\n", 02755)}, "sgid");
}

TEST_F(HostileArchiveTest, CharacterDeviceIsRefused) {
  ExpectRefused({Special("null", AE_IFCHR)}, "null");
  EXPECT_FALSE(fs::exists(fs::symlink_status(dest() / "null")));
}

TEST_F(HostileArchiveTest, FifoIsRefused) { ExpectRefused({Special("pipe", AE_IFIFO)}, "pipe"); }

TEST_F(HostileArchiveTest, DuplicateRegularFileIsRefusedAndFirstCopyKept) {
  ExpectRefused({File("a.txt", "first"), File("a.txt", "second")}, "a.txt");
  EXPECT_EQ(ReadFile(dest() / "a.txt"), "first");
}

TEST_F(HostileArchiveTest, FileOverAFolderIsRefused) {
  ExpectRefused({Folder("a"), File("a", "x")}, "a");
}

TEST_F(HostileArchiveTest, TooManyEntriesIsRefused) {
  ExpectRefused({File("1", "1"), File("2", "2"), File("3", "3"), File("4", "4")}, "4",
                MaxEntries(3));
  EXPECT_FALSE(fs::exists(dest() / "4"));
}

TEST_F(HostileArchiveTest, ExactlyMaxEntriesIsAccepted) {
  ASSERT_NO_FATAL_FAILURE(
      WriteArchive(archive(), {File("1", "1"), File("2", "2"), File("3", "3")}));
  EXPECT_TRUE(ExtractArchive(archive(), dest(), MaxEntries(3)).ok());
}

TEST_F(HostileArchiveTest, EntryLargerThanPerFileLimitIsRefused) {
  ExpectRefused({File("big.bin", std::string(1000, 'x'))}, "big.bin", MaxEntryBytes(100));
  EXPECT_FALSE(fs::exists(dest() / "big.bin"));
}

TEST_F(HostileArchiveTest, SnapshotLargerThanTotalLimitIsRefused) {
  ExpectRefused({File("a.bin", std::string(100, 'a')), File("b.bin", std::string(100, 'b'))},
                "b.bin", MaxTotalBytes(150));
}

TEST_F(HostileArchiveTest, NonArchiveFileIsFailedPrecondition) {
  WriteFile(archive(), "this is not a tar.gz, just text that goes on for a while\n");
  absl::Status status = ExtractArchive(archive(), dest());
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(ListTree(dest()), ::testing::IsEmpty());
}

TEST_F(HostileArchiveTest, TruncatedArchiveIsFailedPrecondition) {
  ASSERT_NO_FATAL_FAILURE(WriteArchive(
      archive(), {File("a.bin", std::string(50000, 'a')), File("b.bin", std::string(50000, 'b'))}));
  const auto size = fs::file_size(archive());
  fs::resize_file(archive(), size / 2);
  absl::Status status = ExtractArchive(archive(), dest());
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
}

// Found by fuzz/archive_extract_fuzzer: an old-GNU sparse entry of 16 real bytes whose one
// data block sits at offset 5,000,000 made a 5 MB file past a 1 MiB limit.
TEST(ExtractArchiveTest, SparseEntryWithABlockPastTheLimitIsRefused) {
  ScopedTempDir tmp;
  const std::string base64 =
      "H4sIAAAAAAACAysuSCwqTmWgKTAAAjMTEzANBOg0EJggsYHihkZG5sYMCsEMdAClxSWJRQoKDAMGgD42MjYwMTVFCxGqBj8Y"
      "GBlgSiYmJacwjIIRCwBHbRxmAAQAAA==";
  std::string bytes;
  ASSERT_TRUE(absl::Base64Unescape(base64, &bytes));
  const fs::path archive = tmp.path() / "sparse.tar.gz";
  WriteFile(archive, bytes);
  const fs::path dest = tmp.path() / "dest";
  fs::create_directories(dest);
  runyard::runtime::ExtractLimits limits;
  limits.max_entry_bytes = 1 << 20;
  const absl::Status status = runyard::runtime::ExtractArchive(archive, dest, limits);
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("sparse"));
  std::error_code ec;
  EXPECT_FALSE(fs::exists(dest / "sparse", ec) && fs::file_size(dest / "sparse", ec) > (1u << 20));
}

}  // namespace
}  // namespace runyard::runtime
