// Tests for cli/ignore_rules.h (gitignore globs and rules) and cli/snapshot_builder.h
// (a source folder turned into a manifest: .amlignore/.gitignore, .git/, empty folders,
// special files, modes, and the digest cache), on real temporary trees.
//
// Every BuildSnapshot test compares the manifest's entry paths with an expected list; in
// these lists a folder entry (an empty folder) is written with a trailing '/'.

#include "cli/ignore_rules.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli/snapshot_builder.h"
#include "common/digest.h"
#include "common/snapshot_manifest.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;

using ::runyard::testutil::ScopedTempDir;

// ------------------------------------------------------------------ GlobMatch

TEST(GlobMatchTest, StarMatchesWithinOneComponent) {
  EXPECT_TRUE(GlobMatch("*.log", "a.log"));
  EXPECT_TRUE(GlobMatch("*.log", ".log"));
  EXPECT_TRUE(GlobMatch("*", "anything"));
  EXPECT_TRUE(GlobMatch("a*b", "ab"));
  EXPECT_TRUE(GlobMatch("a*b", "axxxb"));
  EXPECT_FALSE(GlobMatch("*.log", "a.txt"));
  EXPECT_FALSE(GlobMatch("*.log", "a.log.bak"));
  EXPECT_FALSE(GlobMatch("*.log", "dir/a.log"));  // '*' never crosses '/'
  EXPECT_FALSE(GlobMatch("a*b", "a/b"));
}

TEST(GlobMatchTest, QuestionMarkMatchesExactlyOneCharacterButNotSlash) {
  EXPECT_TRUE(GlobMatch("a?c", "abc"));
  EXPECT_TRUE(GlobMatch("???", "xyz"));
  EXPECT_FALSE(GlobMatch("a?c", "ac"));
  EXPECT_FALSE(GlobMatch("a?c", "abbc"));
  EXPECT_FALSE(GlobMatch("a?c", "a/c"));
}

TEST(GlobMatchTest, CharacterClassesAndRanges) {
  EXPECT_TRUE(GlobMatch("[a-c]x", "ax"));
  EXPECT_TRUE(GlobMatch("[a-c]x", "bx"));
  EXPECT_TRUE(GlobMatch("[a-c]x", "cx"));
  EXPECT_FALSE(GlobMatch("[a-c]x", "dx"));
  EXPECT_FALSE(GlobMatch("[a-c]x", "x"));
  EXPECT_TRUE(GlobMatch("file[0-9].txt", "file7.txt"));
  EXPECT_FALSE(GlobMatch("file[0-9].txt", "fileA.txt"));
  EXPECT_TRUE(GlobMatch("[abc]", "b"));
  EXPECT_FALSE(GlobMatch("[abc]", "d"));
  EXPECT_FALSE(GlobMatch("a[/]b", "a/b"));  // a class never matches '/'
}

TEST(GlobMatchTest, NegatedClasses) {
  EXPECT_TRUE(GlobMatch("[!a]x", "bx"));
  EXPECT_FALSE(GlobMatch("[!a]x", "ax"));
  EXPECT_TRUE(GlobMatch("[^a]x", "bx"));
  EXPECT_FALSE(GlobMatch("[^a]x", "ax"));
  EXPECT_FALSE(GlobMatch("[!a-c]", "b"));
  EXPECT_TRUE(GlobMatch("[!a-c]", "z"));
}

TEST(GlobMatchTest, UnclosedBracketIsALiteral) {
  EXPECT_TRUE(GlobMatch("[abc", "[abc"));
  EXPECT_FALSE(GlobMatch("[abc", "a"));
}

TEST(GlobMatchTest, LeadingDoubleStarSlashMatchesInAnyFolder) {
  EXPECT_TRUE(GlobMatch("**/tmp", "tmp"));
  EXPECT_TRUE(GlobMatch("**/tmp", "a/tmp"));
  EXPECT_TRUE(GlobMatch("**/tmp", "a/b/c/tmp"));
  EXPECT_FALSE(GlobMatch("**/tmp", "atmp"));
  EXPECT_FALSE(GlobMatch("**/tmp", "a/tmpx"));
  EXPECT_FALSE(GlobMatch("**/tmp", "a/tmp/x"));
}

TEST(GlobMatchTest, TrailingSlashDoubleStarMatchesEverythingInside) {
  EXPECT_TRUE(GlobMatch("logs/**", "logs/a"));
  EXPECT_TRUE(GlobMatch("logs/**", "logs/a/b/c"));
  EXPECT_FALSE(GlobMatch("logs/**", "logs"));  // the folder itself is not inside itself
  EXPECT_FALSE(GlobMatch("logs/**", "logsx/a"));
  EXPECT_FALSE(GlobMatch("logs/**", "x/logs/a"));
}

TEST(GlobMatchTest, InnerDoubleStarMatchesZeroOrMoreFolders) {
  EXPECT_TRUE(GlobMatch("a/**/b", "a/b"));
  EXPECT_TRUE(GlobMatch("a/**/b", "a/x/b"));
  EXPECT_TRUE(GlobMatch("a/**/b", "a/x/y/z/b"));
  EXPECT_FALSE(GlobMatch("a/**/b", "a/xb"));
  EXPECT_FALSE(GlobMatch("a/**/b", "ab"));
  EXPECT_FALSE(GlobMatch("a/**/b", "x/a/b"));
  EXPECT_FALSE(GlobMatch("a/**/b", "a/b/c"));
}

TEST(GlobMatchTest, DoubleStarInsideAComponentIsAPlainStar) {
  EXPECT_TRUE(GlobMatch("a**b", "axyb"));
  EXPECT_FALSE(GlobMatch("a**b", "a/b"));
}

TEST(GlobMatchTest, BackslashEscapesTheNextCharacter) {
  EXPECT_TRUE(GlobMatch("\\*", "*"));
  EXPECT_FALSE(GlobMatch("\\*", "x"));
  EXPECT_TRUE(GlobMatch("\\?", "?"));
  EXPECT_FALSE(GlobMatch("\\?", "a"));
  EXPECT_TRUE(GlobMatch("\\[a]", "[a]"));
  EXPECT_FALSE(GlobMatch("\\[a]", "a"));
  EXPECT_TRUE(GlobMatch("\\#hash", "#hash"));
  EXPECT_TRUE(GlobMatch("a\\ ", "a "));
}

// ------------------------------------------------------------------ IgnoreRules

TEST(IgnoreRulesTest, LastMatchingRuleDecides) {
  IgnoreRules rules;
  rules.AddFile("", "*.log\n!keep.log\n");
  EXPECT_TRUE(rules.IsIgnored("a.log", false));
  EXPECT_FALSE(rules.IsIgnored("keep.log", false));
  EXPECT_TRUE(rules.IsIgnored("sub/a.log", false));
  EXPECT_FALSE(rules.IsIgnored("sub/keep.log", false));
  EXPECT_FALSE(rules.IsIgnored("a.txt", false));
}

TEST(IgnoreRulesTest, RulesOfAFolderOnlyApplyBelowIt) {
  IgnoreRules rules;
  rules.AddFile("a", "*.txt\n");
  EXPECT_TRUE(rules.IsIgnored("a/x.txt", false));
  EXPECT_TRUE(rules.IsIgnored("a/b/x.txt", false));
  EXPECT_FALSE(rules.IsIgnored("x.txt", false));
  EXPECT_FALSE(rules.IsIgnored("ab/x.txt", false));  // a sibling that shares a prefix
  EXPECT_FALSE(rules.IsIgnored("a", true));
}

TEST(IgnoreRulesTest, EmptyWhenOnlyCommentsAndBlankLines) {
  IgnoreRules rules;
  rules.AddFile("", "# nothing\n\n   \n#*.py\n");
  EXPECT_TRUE(rules.empty());
  EXPECT_FALSE(rules.IsIgnored("x.py", false));
}

// ------------------------------------------------------------------ BuildSnapshot

class SnapshotBuilderTest : public ::testing::Test {
 protected:
  fs::path root() const { return tmp_.path() / "src"; }

  void SetUp() override { fs::create_directories(root()); }

  void Write(const std::string& relative, const std::string& text = "x") {
    const fs::path file = root() / relative;
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << text;
  }

  void Mkdir(const std::string& relative) { fs::create_directories(root() / relative); }

  BuiltSnapshot Build(const fs::path& digest_cache = {}) {
    absl::StatusOr<BuiltSnapshot> built = BuildSnapshot(root(), digest_cache);
    EXPECT_TRUE(built.ok()) << built.status();
    return built.ok() ? *std::move(built) : BuiltSnapshot{};
  }

  // The manifest's entries, folders with a trailing '/'.
  static std::vector<std::string> Paths(const BuiltSnapshot& built) {
    std::vector<std::string> paths;
    for (const auto& entry : built.manifest.entries()) {
      paths.push_back(entry.directory() ? entry.path() + "/" : entry.path());
    }
    return paths;
  }

  std::vector<std::string> BuildPaths() { return Paths(Build()); }

  const runyard::v1::ManifestEntry* Entry(const BuiltSnapshot& built, const std::string& path) {
    for (const auto& entry : built.manifest.entries()) {
      if (entry.path() == path) return &entry;
    }
    ADD_FAILURE() << "no entry " << path;
    return nullptr;
  }

  // Sets a file's mtime `seconds_ago` into the past (exactly, to the second).
  void SetMtimeSecondsAgo(const std::string& relative, int seconds_ago) {
    const auto now = fs::file_time_type::clock::now();
    fs::last_write_time(root() / relative,
                        std::chrono::floor<std::chrono::seconds>(now) - std::chrono::seconds(seconds_ago));
  }

  ScopedTempDir tmp_;
};

TEST_F(SnapshotBuilderTest, EveryFileIsListedSortedWithItsDigestAndSize) {
  Write("train.py", "print('hi')\n");
  Write("pkg/__init__.py", "");
  Write("pkg/model.py", "class M: pass\n");
  Write("pkg-data.txt", "data");  // sorts between "pkg" entries by full path
  BuiltSnapshot built = Build();
  EXPECT_THAT(Paths(built), ElementsAre("pkg-data.txt", "pkg/__init__.py", "pkg/model.py", "train.py"));
  const auto* model = Entry(built, "pkg/model.py");
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->digest(), common::Sha256Hex("class M: pass\n"));
  EXPECT_EQ(model->size(), 14);
  EXPECT_FALSE(model->directory());
  EXPECT_EQ(built.files, 4);
  EXPECT_EQ(built.bytes, 12 + 0 + 14 + 4);
  EXPECT_EQ(built.ignored, 0);
  EXPECT_EQ(built.skipped_special, 0);
  EXPECT_EQ(built.id, common::Sha256Hex(built.manifest_bytes));
  EXPECT_EQ(built.id, common::ManifestId(built.manifest));
  EXPECT_TRUE(common::CheckManifest(built.manifest).ok());
  EXPECT_EQ(built.file_of_digest.at(common::Sha256Hex("data")), root() / "pkg-data.txt");
}

TEST_F(SnapshotBuilderTest, NotADirectoryIsInvalidArgument) {
  Write("file.txt");
  absl::StatusOr<BuiltSnapshot> built = BuildSnapshot(root() / "file.txt", "");
  EXPECT_EQ(built.status().code(), absl::StatusCode::kInvalidArgument);
  built = BuildSnapshot(root() / "missing", "");
  EXPECT_EQ(built.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SnapshotBuilderTest, NegationReincludesAFile) {
  Write(".gitignore", "*.log\n!keep.log\n");
  Write("a.log");
  Write("keep.log");
  Write("main.py");
  Write("sub/b.log");
  Write("sub/keep.log");
  BuiltSnapshot built = Build();
  EXPECT_THAT(Paths(built), ElementsAre(".gitignore", "keep.log", "main.py", "sub/keep.log"));
  EXPECT_EQ(built.ignored, 2);
}

TEST_F(SnapshotBuilderTest, DoubleStarPatterns) {
  Write(".gitignore", "**/tmp\nlogs/**\na/**/b.txt\n");
  Write("tmp/x");
  Write("src/tmp/y");
  Write("src/tmpfile");
  Write("src/main.py");
  Write("logs/l1");
  Write("logs/deep/l2");
  Write("a/b.txt");
  Write("a/x/y/b.txt");
  Write("a/x/y/keep.txt");
  Write("a/c.txt");
  Write("b.txt");
  Write("other/a/b.txt");
  EXPECT_THAT(BuildPaths(), ElementsAre(".gitignore", "a/c.txt", "a/x/y/keep.txt", "b.txt",
                                        // everything inside logs/ is ignored, not the folder
                                        // itself: it stays, as an empty folder
                                        "logs/", "other/a/b.txt", "src/main.py", "src/tmpfile"));
}

TEST_F(SnapshotBuilderTest, TrailingSlashIgnoresFoldersOnly) {
  Write(".gitignore", "build/\n");
  Write("build/out.o");
  Write("sub/build/out.o");
  Write("sub/build.cc");
  Write("src/build", "a file named build");
  Write("main.cc");
  BuiltSnapshot built = Build();
  EXPECT_THAT(Paths(built), ElementsAre(".gitignore", "main.cc", "src/build", "sub/build.cc"));
  EXPECT_EQ(built.ignored, 2);
}

TEST_F(SnapshotBuilderTest, AnchoredFolderPattern) {
  Write(".gitignore", "/build/\n");
  Write("build/out.o");
  Write("sub/build/out.o");
  EXPECT_THAT(BuildPaths(), ElementsAre(".gitignore", "sub/build/out.o"));
}

TEST_F(SnapshotBuilderTest, IgnoreEverythingButPythonFiles) {
  Write(".amlignore", "*\n!*/\n!*.py\n");
  Write("train.py");
  Write("data.csv");
  Write("src/model.py");
  Write("src/weights.bin");
  Write("src/deep/util.py");
  EXPECT_THAT(BuildPaths(), ElementsAre("src/deep/util.py", "src/model.py", "train.py"));
}

TEST_F(SnapshotBuilderTest, LeadingSlashAnchorsToTheIgnoreFilesFolder) {
  Write(".gitignore", "/root.txt\n");
  Write("root.txt");
  Write("sub/root.txt");
  Write("sub/.gitignore", "/only_here.txt\n");
  Write("only_here.txt");
  Write("sub/only_here.txt");
  Write("sub/x/only_here.txt");
  EXPECT_THAT(BuildPaths(), ElementsAre(".gitignore", "only_here.txt", "sub/.gitignore", "sub/root.txt",
                                        "sub/x/only_here.txt"));
}

TEST_F(SnapshotBuilderTest, InnerSlashAnchorsRelativeToTheIgnoreFilesFolder) {
  Write(".gitignore", "docs/*.md\n");
  Write("docs/a.md");
  Write("docs/a.txt");
  Write("docs/deep/b.md");  // '*' does not cross folders
  Write("sub/docs/c.md");   // anchored to the root's folder, not to any docs/
  Write("sub/.gitignore", "notes/*.md\n");
  Write("sub/notes/n.md");
  Write("sub/notes/n.txt");
  Write("notes/n.md");  // above sub/: its rules do not reach here
  EXPECT_THAT(BuildPaths(), ElementsAre(".gitignore", "docs/a.txt", "docs/deep/b.md", "notes/n.md",
                                        "sub/.gitignore", "sub/docs/c.md", "sub/notes/n.txt"));
}

TEST_F(SnapshotBuilderTest, NestedIgnoreFileAppliesBelowItsFolderAndOverridesItsParent) {
  Write(".gitignore", "*.log\n");
  Write("a.log");
  Write("sub/.gitignore", "!important.log\n*.tmp\n");
  Write("sub/important.log");
  Write("sub/other.log");
  Write("sub/deep/important.log");
  Write("sub/x.tmp");
  Write("other/important.log");  // a sibling of sub/: the parent's rule only
  Write("other/keep.py");
  Write("top.tmp");              // above sub/
  Write("subway/x.tmp");         // shares a prefix with sub, not below it
  EXPECT_THAT(BuildPaths(), ElementsAre(".gitignore", "other/keep.py", "sub/.gitignore", "sub/deep/important.log",
                                        "sub/important.log", "subway/x.tmp", "top.tmp"));
}

TEST_F(SnapshotBuilderTest, FileCannotBeReincludedWhenItsFolderIsExcluded) {
  Write(".gitignore", "secret/\n!secret/keep.txt\n");
  Write("secret/keep.txt");
  Write("secret/other.txt");
  Write("secret/.gitignore", "!*\n");  // never read: the folder is not walked
  Write("main.py");
  BuiltSnapshot built = Build();
  EXPECT_THAT(Paths(built), ElementsAre(".gitignore", "main.py"));
  EXPECT_EQ(built.ignored, 1);
}

TEST_F(SnapshotBuilderTest, FolderExcludedByANonSlashPatternHidesItsFilesToo) {
  Write(".gitignore", "data\n!data/keep.csv\n");
  Write("data/keep.csv");
  Write("data/big.csv");
  Write("main.py");
  EXPECT_THAT(BuildPaths(), ElementsAre(".gitignore", "main.py"));
}

TEST_F(SnapshotBuilderTest, FilesInsideAFolderCanBeReincludedWhenOnlyItsContentIsExcluded) {
  Write(".gitignore", "data/*\n!data/keep.csv\n");
  Write("data/keep.csv");
  Write("data/big.csv");
  EXPECT_THAT(BuildPaths(), ElementsAre(".gitignore", "data/keep.csv"));
}

TEST_F(SnapshotBuilderTest, EveryManifestItBuildsParsesBack) {
  Write("caf\xc3\xa9/r\xc3\xa9sum\xc3\xa9.txt", "utf-8 names");
  Write("latin1-caf\xe9.txt", "a name that is not UTF-8");
  Write("new\nline.txt", "a newline in a name");
  absl::StatusOr<BuiltSnapshot> built = BuildSnapshot(root(), "");
  if (!built.ok()) {
    // Refusing such a name is fine, if it says which file.
    EXPECT_THAT(std::string(built.status().message()), ::testing::HasSubstr("latin1-caf"));
    return;
  }
  // Otherwise the manifest must still parse on the server and the node.
  absl::StatusOr<runyard::v1::SnapshotManifest> parsed = common::ParseManifest(built->manifest_bytes);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
}

TEST_F(SnapshotBuilderTest, AmlignoreWinsOverGitignoreInTheSameFolder) {
  Write(".amlignore", "*.csv\n");
  Write(".gitignore", "*.py\n");
  Write("data.csv");
  Write("train.py");
  Write("sub/.gitignore", "*.tmp\n");  // no .amlignore here: its .gitignore counts
  Write("sub/x.tmp");
  Write("sub/y.py");
  Write("sub2/.amlignore", "*.bin\n");
  Write("sub2/.gitignore", "*.txt\n");
  Write("sub2/a.bin");
  Write("sub2/a.txt");
  EXPECT_THAT(BuildPaths(), ElementsAre(".amlignore", ".gitignore", "sub/.gitignore", "sub/y.py",
                                        "sub2/.amlignore", "sub2/.gitignore", "sub2/a.txt", "train.py"));
}

TEST_F(SnapshotBuilderTest, GitFolderIsAlwaysLeftOut) {
  Write(".git/config");
  Write(".git/objects/ab/cdef");
  Write("vendor/lib/.git/HEAD");
  Write("vendor/lib/lib.py");
  Write(".gitignore", "!.git/\n");  // cannot bring it back
  Write("main.py");
  BuiltSnapshot built = Build();
  EXPECT_THAT(Paths(built), ElementsAre(".gitignore", "main.py", "vendor/lib/lib.py"));
  EXPECT_EQ(built.ignored, 2);
}

TEST_F(SnapshotBuilderTest, CommentsBlankLinesTrailingSpacesAndEscapes) {
  Write(".gitignore",
        "# a comment\n"
        "\n"
        "   \n"
        "*.tmp   \n"       // trailing spaces are not part of the pattern
        "\\#hash.txt\n"    // an escaped '#' is a pattern, not a comment
        "\\!bang.txt\n"    // an escaped '!' is a literal '!'
        "space\\ \n"       // an escaped trailing space stays
        "crlf.bin\r\n");
  Write("# a comment", "a file named like the comment");
  Write("a.tmp");
  Write("a.tmpx");
  Write("#hash.txt");
  Write("!bang.txt");
  Write("bang.txt");
  Write("space ");
  Write("space");
  Write("crlf.bin");
  EXPECT_THAT(BuildPaths(), ElementsAre("# a comment", ".gitignore", "a.tmpx", "bang.txt", "space"));
}

TEST_F(SnapshotBuilderTest, EmptyFoldersAreFolderEntries) {
  Mkdir("empty");
  Mkdir("a/b/c");
  Write("a/file.txt");
  Mkdir("full");
  Write("full/x");
  BuiltSnapshot built = Build();
  EXPECT_THAT(Paths(built), ElementsAre("a/b/c/", "a/file.txt", "empty/", "full/x"));
  const auto* empty = Entry(built, "empty");
  ASSERT_NE(empty, nullptr);
  EXPECT_TRUE(empty->directory());
  EXPECT_EQ(empty->mode(), 0755u);
  EXPECT_EQ(empty->size(), 0);
  EXPECT_TRUE(empty->digest().empty());
  EXPECT_EQ(built.files, 2);
  EXPECT_TRUE(common::CheckManifest(built.manifest).ok());
}

TEST_F(SnapshotBuilderTest, EmptySourceIsAnEmptyManifest) {
  BuiltSnapshot built = Build();
  EXPECT_THAT(Paths(built), IsEmpty());
  EXPECT_EQ(built.id, common::Sha256Hex(""));
}

TEST_F(SnapshotBuilderTest, SymlinksAndOtherSpecialFilesAreSkipped) {
  Write("real.txt", "real");
  Mkdir("dir");
  Write("dir/inside.txt");
  fs::create_symlink("real.txt", root() / "link.txt");
  fs::create_symlink("/etc/passwd", root() / "outside");
  fs::create_directory_symlink("dir", root() / "dirlink");
  ASSERT_EQ(::mkfifo((root() / "fifo").c_str(), 0644), 0);
  BuiltSnapshot built = Build();
  EXPECT_THAT(Paths(built), ElementsAre("dir/inside.txt", "real.txt"));
  EXPECT_EQ(built.skipped_special, 4);
  EXPECT_EQ(built.ignored, 0);
}

TEST_F(SnapshotBuilderTest, ExecutableBitGivesMode0755AndEverythingElse0644) {
  Write("run.sh", "#!/bin/sh\n");
  Write("data.txt");
  Write("private.txt");
  Write("owner_exec_only");
  fs::permissions(root() / "run.sh", fs::perms(0775));
  fs::permissions(root() / "private.txt", fs::perms(0600));
  fs::permissions(root() / "owner_exec_only", fs::perms(0700));
  BuiltSnapshot built = Build();
  ASSERT_EQ(built.manifest.entries_size(), 4);
  EXPECT_EQ(Entry(built, "run.sh")->mode(), 0755u);
  EXPECT_EQ(Entry(built, "data.txt")->mode(), 0644u);
  EXPECT_EQ(Entry(built, "private.txt")->mode(), 0644u);
  EXPECT_EQ(Entry(built, "owner_exec_only")->mode(), 0755u);
}

TEST_F(SnapshotBuilderTest, SameTreeGivesTheSameId) {
  Write("a.txt", "a");
  Write("b/c.txt", "c");
  Mkdir("d");
  const std::string first = Build().id;
  EXPECT_EQ(Build().id, first);
  Write("a.txt", "changed");
  EXPECT_NE(Build().id, first);
}

// ------------------------------------------------------------------ digest cache

TEST_F(SnapshotBuilderTest, DigestCacheSkipsRehashingUnchangedOldFiles) {
  Write("a.txt", std::string(1000, 'a'));
  Write("sub/b.txt", std::string(500, 'b'));
  SetMtimeSecondsAgo("a.txt", 3600);
  SetMtimeSecondsAgo("sub/b.txt", 3600);
  const fs::path cache = tmp_.path() / "digest-cache" / "src.bin";

  BuiltSnapshot first = Build(cache);
  EXPECT_EQ(first.hashed_bytes, 1500);
  EXPECT_TRUE(fs::exists(cache));

  BuiltSnapshot second = Build(cache);
  EXPECT_EQ(second.hashed_bytes, 0);
  EXPECT_EQ(second.id, first.id);
  EXPECT_EQ(second.manifest_bytes, first.manifest_bytes);
  EXPECT_EQ(second.bytes, 1500);
}

TEST_F(SnapshotBuilderTest, WithoutACacheFileEveryBuildHashesEverything) {
  Write("a.txt", std::string(1000, 'a'));
  SetMtimeSecondsAgo("a.txt", 3600);
  EXPECT_EQ(Build().hashed_bytes, 1000);
  EXPECT_EQ(Build().hashed_bytes, 1000);
}

TEST_F(SnapshotBuilderTest, DigestCacheRehashesAChangedFile) {
  Write("a.txt", std::string(1000, 'a'));
  Write("b.txt", std::string(500, 'b'));
  SetMtimeSecondsAgo("a.txt", 3600);
  SetMtimeSecondsAgo("b.txt", 3600);
  const fs::path cache = tmp_.path() / "digest-cache.bin";
  ASSERT_EQ(Build(cache).hashed_bytes, 1500);

  Write("b.txt", std::string(700, 'c'));
  SetMtimeSecondsAgo("b.txt", 1800);
  BuiltSnapshot second = Build(cache);
  EXPECT_EQ(second.hashed_bytes, 700);
  EXPECT_EQ(Entry(second, "b.txt")->digest(), common::Sha256Hex(std::string(700, 'c')));
  EXPECT_EQ(Build(cache).hashed_bytes, 0);  // and remembered again
}

TEST_F(SnapshotBuilderTest, DigestCacheRehashesAReplacedFileWithTheSameSizeAndMtime) {
  Write("a.txt", std::string(1000, 'a'));
  SetMtimeSecondsAgo("a.txt", 3600);
  const fs::path cache = tmp_.path() / "digest-cache.bin";
  ASSERT_EQ(Build(cache).hashed_bytes, 1000);
  const auto mtime = fs::last_write_time(root() / "a.txt");

  // Same size, same mtime, new content in a new inode (an editor's save by rename).
  {
    std::ofstream(tmp_.path() / "replacement", std::ios::binary) << std::string(1000, 'z');
  }
  fs::last_write_time(tmp_.path() / "replacement", mtime);
  fs::rename(tmp_.path() / "replacement", root() / "a.txt");
  BuiltSnapshot second = Build(cache);
  EXPECT_EQ(second.hashed_bytes, 1000);
  EXPECT_EQ(Entry(second, "a.txt")->digest(), common::Sha256Hex(std::string(1000, 'z')));
}

TEST_F(SnapshotBuilderTest, DigestCacheDoesNotTrustFilesChangedInTheLastTwoSeconds) {
  Write("old.txt", std::string(100, 'o'));
  SetMtimeSecondsAgo("old.txt", 3600);
  Write("fresh.txt", std::string(40, 'f'));
  fs::last_write_time(root() / "fresh.txt", fs::file_time_type::clock::now());
  Write("future.txt", std::string(7, 'x'));  // a clock skewed ahead: not trusted either
  fs::last_write_time(root() / "future.txt", fs::file_time_type::clock::now() + std::chrono::hours(1));
  const fs::path cache = tmp_.path() / "digest-cache.bin";
  ASSERT_EQ(Build(cache).hashed_bytes, 147);
  EXPECT_EQ(Build(cache).hashed_bytes, 47);  // fresh.txt and future.txt again, old.txt not
}

TEST_F(SnapshotBuilderTest, CorruptDigestCacheFileIsIgnored) {
  Write("a.txt", std::string(100, 'a'));
  SetMtimeSecondsAgo("a.txt", 3600);
  const fs::path cache = tmp_.path() / "digest-cache.bin";
  std::ofstream(cache, std::ios::binary) << std::string("\x0a\x40" "abc", 5);
  BuiltSnapshot built = Build(cache);
  EXPECT_EQ(built.hashed_bytes, 100);
  EXPECT_EQ(Entry(built, "a.txt")->digest(), common::Sha256Hex(std::string(100, 'a')));
  EXPECT_EQ(Build(cache).hashed_bytes, 0);  // rewritten with good entries
}

TEST_F(SnapshotBuilderTest, DigestCacheIsKeyedByPath) {
  Write("a.txt", std::string(100, 'a'));
  SetMtimeSecondsAgo("a.txt", 3600);
  const fs::path cache = tmp_.path() / "digest-cache.bin";
  ASSERT_EQ(Build(cache).hashed_bytes, 100);
  fs::rename(root() / "a.txt", root() / "renamed.txt");  // same inode, size, mtime
  BuiltSnapshot built = Build(cache);
  EXPECT_EQ(built.hashed_bytes, 100);
  EXPECT_THAT(Paths(built), ElementsAre("renamed.txt"));
}

}  // namespace
}  // namespace runyard::cli
