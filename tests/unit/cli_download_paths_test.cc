// Tests for the path safety of `runyard download`: cli/download_paths.h (which run paths
// may name a local file), cli/download_folder.h (writes stay inside the folder, symbolic
// links included) and cli/run_file_download.h (a hostile listing writes nothing; chunks,
// resume after a broken stream).

#include <sys/stat.h>

#include <fstream>
#include <map>
#include <sstream>

#include "cli/download_folder.h"
#include "cli/download_paths.h"
#include "cli/run_file_download.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scoped_temp_dir.h"

namespace runyard::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

runyard::v1::FileInfo Info(const std::string& path, int64_t size = 0) {
  runyard::v1::FileInfo info;
  info.set_path(path);
  info.set_size(size);
  return info;
}

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every entry below `root`, relative, sorted.
std::vector<std::string> Tree(const fs::path& root) {
  std::vector<std::string> entries;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    entries.push_back(fs::relative(entry.path(), root).string());
  }
  std::sort(entries.begin(), entries.end());
  return entries;
}

// ------------------------------------------------------------------ SplitDownloadPath

TEST(SplitDownloadPathTest, SplitsPlainRelativePaths) {
  EXPECT_THAT(*SplitDownloadPath("outputs/model.npz"), ElementsAre("outputs", "model.npz"));
  EXPECT_THAT(*SplitDownloadPath("outputs/a/b/c.txt"), ElementsAre("outputs", "a", "b", "c.txt"));
  EXPECT_THAT(*SplitDownloadPath("outputs/.hidden"), ElementsAre("outputs", ".hidden"));
  EXPECT_THAT(*SplitDownloadPath("outputs/..not-a-parent"), ElementsAre("outputs", "..not-a-parent"));
}

TEST(SplitDownloadPathTest, RefusesEscapesAndNamesThePath) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/etc/passwd", "absolute"},
      {"../outside", "'..' component"},
      {"outputs/../../outside", "'..' component"},
      {"outputs/..", "'..' component"},
      {"..", "'..' component"},
      {"outputs/./x", "'.' component"},
      {"outputs//x", "empty component"},
      {"outputs/x/", "empty component"},
      {"", "empty"},
  };
  for (const auto& [path, why] : cases) {
    absl::StatusOr<std::vector<std::string>> split = SplitDownloadPath(path);
    ASSERT_FALSE(split.ok()) << path;
    EXPECT_EQ(split.status().code(), absl::StatusCode::kInvalidArgument) << path;
    EXPECT_THAT(split.status().message(), HasSubstr("'" + path + "'"));
    EXPECT_THAT(split.status().message(), HasSubstr(why)) << path;
  }
}

TEST(SplitDownloadPathTest, RefusesNulAndShowsControlBytesEscaped) {
  absl::StatusOr<std::vector<std::string>> split = SplitDownloadPath(std::string("outputs/a\0b", 11));
  ASSERT_FALSE(split.ok());
  EXPECT_THAT(split.status().message(), HasSubstr("NUL"));
  EXPECT_THAT(split.status().message(), HasSubstr("outputs/a\\x00b"));
}

TEST(SplitDownloadPathTest, RefusesOverlongNames) {
  EXPECT_FALSE(SplitDownloadPath("outputs/" + std::string(256, 'a')).ok());
  EXPECT_TRUE(SplitDownloadPath("outputs/" + std::string(255, 'a')).ok());
  EXPECT_FALSE(SplitDownloadPath(std::string(5000, 'a')).ok());
}

// ------------------------------------------------------------------ FilesUnderPrefix

TEST(FilesUnderPrefixTest, MatchesTheStartOfThePath) {
  const std::vector<runyard::v1::FileInfo> files = {Info("logs/metrics.csv"), Info("outputs/a.txt"),
                                                    Info("outputs/sub/b.txt"), Info("outputs_old/c.txt")};
  auto paths = [](const std::vector<runyard::v1::FileInfo>& selected) {
    std::vector<std::string> out;
    for (const auto& f : selected) out.push_back(f.path());
    return out;
  };
  EXPECT_THAT(paths(FilesUnderPrefix(files, "outputs/")), ElementsAre("outputs/a.txt", "outputs/sub/b.txt"));
  EXPECT_THAT(paths(FilesUnderPrefix(files, "outputs")),
              ElementsAre("outputs/a.txt", "outputs/sub/b.txt", "outputs_old/c.txt"));
  EXPECT_THAT(paths(FilesUnderPrefix(files, "outputs/sub/")), ElementsAre("outputs/sub/b.txt"));
  EXPECT_EQ(FilesUnderPrefix(files, "").size(), files.size());
  EXPECT_TRUE(FilesUnderPrefix(files, "nothing/").empty());
}

// ------------------------------------------------------------------ DownloadFolder

TEST(DownloadFolderTest, CreatesFoldersAndPublishesOnCommit) {
  testutil::ScopedTempDir dir;
  absl::StatusOr<DownloadFolder> folder = DownloadFolder::Open(dir.path() / "dl");
  ASSERT_TRUE(folder.ok()) << folder.status();
  auto file = folder->Create({"outputs", "a", "b.txt"});
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Write("hello ").ok());
  ASSERT_TRUE((*file)->Write("world").ok());
  EXPECT_EQ((*file)->size(), 11);
  EXPECT_FALSE(fs::exists(dir.path() / "dl/outputs/a/b.txt"));  // not before Commit
  ASSERT_TRUE((*file)->Commit().ok());
  file->reset();
  EXPECT_EQ(ReadAll(dir.path() / "dl/outputs/a/b.txt"), "hello world");
  EXPECT_THAT(Tree(dir.path() / "dl"), ElementsAre("outputs", "outputs/a", "outputs/a/b.txt"));
}

TEST(DownloadFolderTest, AnUncommittedFileLeavesNothing) {
  testutil::ScopedTempDir dir;
  absl::StatusOr<DownloadFolder> folder = DownloadFolder::Open(dir.path());
  ASSERT_TRUE(folder.ok());
  {
    auto file = folder->Create({"x.bin"});
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE((*file)->Write("partial").ok());
  }
  EXPECT_TRUE(Tree(dir.path()).empty());
}

TEST(DownloadFolderTest, RefusesToWriteThroughASymlinkedFolder) {
  testutil::ScopedTempDir dir;
  const fs::path outside = dir.path() / "outside";
  fs::create_directories(outside);
  fs::create_directories(dir.path() / "dl");
  fs::create_directory_symlink(outside, dir.path() / "dl" / "outputs");
  absl::StatusOr<DownloadFolder> folder = DownloadFolder::Open(dir.path() / "dl");
  ASSERT_TRUE(folder.ok());
  auto file = folder->Create({"outputs", "evil.txt"});
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr((dir.path() / "dl" / "outputs").string()));
  EXPECT_THAT(file.status().message(), HasSubstr("symbolic link"));
  EXPECT_TRUE(Tree(outside).empty());
}

TEST(DownloadFolderTest, ReplacesASymlinkAtTheFileNameInsteadOfWritingThroughIt) {
  testutil::ScopedTempDir dir;
  const fs::path victim = dir.path() / "victim.txt";
  { std::ofstream(victim) << "untouched"; }
  fs::create_directories(dir.path() / "dl");
  fs::create_symlink(victim, dir.path() / "dl" / "model.npz");
  absl::StatusOr<DownloadFolder> folder = DownloadFolder::Open(dir.path() / "dl");
  ASSERT_TRUE(folder.ok());
  auto file = folder->Create({"model.npz"});
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Write("new").ok());
  ASSERT_TRUE((*file)->Commit().ok());
  EXPECT_EQ(ReadAll(victim), "untouched");
  EXPECT_FALSE(fs::is_symlink(dir.path() / "dl" / "model.npz"));
  EXPECT_EQ(ReadAll(dir.path() / "dl" / "model.npz"), "new");
}

// ------------------------------------------------------------------ DownloadFiles

// A run store in memory. ReadFile hands out `chunk` bytes at a time and can break off.
class FakeRunFiles : public RunBackend {
 public:
  std::map<std::string, std::string> files;
  size_t chunk = 4;
  int breaks_left = 0;           // streams that break off (Unavailable) after one chunk
  int fails_left = 0;            // streams that fail (Unavailable) before any byte
  std::vector<int64_t> offsets;  // offsets asked for, in order

  absl::Status ReadFile(const std::string&, const std::string& path, int64_t offset,
                        const FileChunkSink& sink) override {
    offsets.push_back(offset);
    if (fails_left > 0) {
      --fails_left;
      return absl::UnavailableError("server unreachable");
    }
    auto found = files.find(path);
    if (found == files.end()) return absl::NotFoundError("no file " + path);
    const std::string& bytes = found->second;
    const int64_t size = static_cast<int64_t>(bytes.size());
    if (offset >= size) return sink(std::string_view(), size);
    for (size_t at = static_cast<size_t>(offset); at < bytes.size(); at += chunk) {
      if (absl::Status ok = sink(std::string_view(bytes).substr(at, chunk), size); !ok.ok()) return ok;
      if (breaks_left > 0) {
        --breaks_left;
        return absl::UnavailableError("stream broke off");
      }
    }
    return absl::OkStatus();
  }

  // Nothing else is used by a download.
  absl::StatusOr<std::vector<std::string>> FindMissingBlobs(const std::vector<std::string>&) override { return Unused(); }
  absl::Status UploadBlobs(const std::vector<std::pair<std::string, std::string>>&) override { return Unused(); }
  absl::Status UploadFileBlob(const std::string&, const fs::path&, const std::function<void(int64_t)>&) override {
    return Unused();
  }
  absl::Status ReadBlob(const std::string&, const std::function<void(std::string_view)>&) override { return Unused(); }
  absl::StatusOr<runyard::v1::SnapshotLimits> DefaultSnapshotLimits() override { return Unused(); }
  absl::StatusOr<runyard::v1::Run> Submit(const runyard::v1::RunSpec&, const runyard::v1::SnapshotLimits&) override {
    return Unused();
  }
  absl::StatusOr<runyard::v1::Run> Get(const std::string&) override { return Unused(); }
  absl::StatusOr<std::vector<runyard::v1::Run>> List(const runyard::v1::ListRunsRequest&) override { return Unused(); }
  absl::StatusOr<runyard::v1::GetMetricsResponse> GetMetrics(const runyard::v1::GetMetricsRequest&) override {
    return Unused();
  }
  absl::StatusOr<runyard::v1::Run> SetTags(const runyard::v1::SetTagsRequest&) override { return Unused(); }
  absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>> ListExperiments(bool) override { return Unused(); }
  absl::StatusOr<runyard::v1::ExperimentInfo> SetExperimentArchived(const std::string&, bool) override {
    return Unused();
  }
  absl::StatusOr<runyard::v1::Run> Cancel(const std::string&) override { return Unused(); }
  absl::StatusOr<std::vector<runyard::v1::FileInfo>> ListFiles(const std::string&) override { return Unused(); }
  absl::StatusOr<runyard::v1::Run> Watch(const std::string&, const std::string&, int64_t,
                                         const std::function<void(std::string_view)>&,
                                         const std::function<void(const runyard::v1::Run&)>&) override {
    return Unused();
  }

 private:
  static absl::Status Unused() { return absl::UnimplementedError("not used by downloads"); }
};

std::vector<runyard::v1::FileInfo> Listing(const FakeRunFiles& store) {
  std::vector<runyard::v1::FileInfo> listing;
  for (const auto& [path, bytes] : store.files) listing.push_back(Info(path, static_cast<int64_t>(bytes.size())));
  return listing;
}

TEST(DownloadFilesTest, KeepsEachFileAtItsRunPathBelowTheFolder) {
  testutil::ScopedTempDir dir;
  FakeRunFiles store;
  store.files = {{"outputs/a.txt", "alpha"},
                 {"outputs/empty", ""},
                 {"outputs/nested/deeper/c.bin", std::string("\0\1\2binary\xff", 10)}};
  DownloadProgress progress(false, stdout, 15, 3);
  absl::StatusOr<PrefixDownloadResult> result = DownloadFiles(store, "run-1", Listing(store), dir.path(), progress);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->files, 3);
  EXPECT_EQ(result->bytes, 15);
  EXPECT_EQ(progress.done_files(), 3);
  EXPECT_EQ(progress.done_bytes(), 15);
  for (const auto& [path, bytes] : store.files) EXPECT_EQ(ReadAll(dir.path() / path), bytes) << path;
  EXPECT_THAT(Tree(dir.path()), ElementsAre("outputs", "outputs/a.txt", "outputs/empty", "outputs/nested",
                                            "outputs/nested/deeper", "outputs/nested/deeper/c.bin"));
}

TEST(DownloadFilesTest, AHostilePathRefusesTheWholeDownloadBeforeAnyWrite) {
  for (const std::string evil : {"../escaped.txt", "/tmp/absolute.txt", "outputs/../../escaped.txt",
                                 "outputs//double", "outputs/./dot"}) {
    testutil::ScopedTempDir dir;
    const fs::path into = dir.path() / "dl";
    FakeRunFiles store;
    store.files = {{"outputs/fine.txt", "fine"}, {evil, "evil"}};
    DownloadProgress progress(false, stdout, 8, 2);
    absl::StatusOr<PrefixDownloadResult> result = DownloadFiles(store, "run-1", Listing(store), into, progress);
    ASSERT_FALSE(result.ok()) << evil;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(result.status().message(), HasSubstr("'" + evil + "'"));
    EXPECT_FALSE(fs::exists(into)) << "something was written for " << evil;
    EXPECT_TRUE(store.offsets.empty()) << "a byte was read for " << evil;
    EXPECT_THAT(Tree(dir.path()), ElementsAre());
  }
}

TEST(DownloadFilesTest, ReadsInChunksAndResumesABrokenStreamWhereItStopped) {
  testutil::ScopedTempDir dir;
  FakeRunFiles store;
  store.files = {{"outputs/big.bin", "0123456789abcdefghij"}};
  store.chunk = 4;
  store.breaks_left = 2;
  DownloadProgress progress(false, stdout, 20, 1);
  absl::StatusOr<PrefixDownloadResult> result = DownloadFiles(store, "run-1", Listing(store), dir.path(), progress);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(ReadAll(dir.path() / "outputs/big.bin"), "0123456789abcdefghij");
  EXPECT_THAT(store.offsets, ElementsAre(0, 4, 8));
  EXPECT_EQ(progress.done_bytes(), 20);
}

TEST(DownloadFilesTest, AFileFoundShorterThanWhatWasReadIsReadAgainFromItsStart) {
  testutil::ScopedTempDir dir;
  FakeRunFiles store;
  absl::StatusOr<DownloadFolder> folder = DownloadFolder::Open(dir.path());
  ASSERT_TRUE(folder.ok());
  auto file = folder->Create({"rewritten.txt"});
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Write("old-old-old-").ok());  // what a broken-off read got before the rewrite
  store.files = {{"outputs/rewritten.txt", "new"}};
  ASSERT_TRUE(FetchRunFile(store, "run-1", Info("outputs/rewritten.txt", 3), **file, nullptr).ok());
  EXPECT_THAT(store.offsets, ElementsAre(12, 0));
  ASSERT_TRUE((*file)->Commit().ok());
  EXPECT_EQ(ReadAll(dir.path() / "rewritten.txt"), "new");
}

TEST(DownloadFilesTest, GivesUpAfterRepeatedFailuresWithoutProgressNamingTheFile) {
  testutil::ScopedTempDir dir;
  FakeRunFiles store;
  store.files = {{"outputs/flaky.bin", "bytes"}};
  store.fails_left = 1000;
  absl::StatusOr<DownloadFolder> folder = DownloadFolder::Open(dir.path());
  ASSERT_TRUE(folder.ok());
  auto file = folder->Create({"flaky.bin"});
  ASSERT_TRUE(file.ok());
  absl::Status read = FetchRunFile(store, "run-1", Info("outputs/flaky.bin", 5), **file, nullptr,
                                   std::chrono::milliseconds(1));
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(read.message(), HasSubstr("outputs/flaky.bin"));
  EXPECT_EQ(store.offsets.size(), 5u);
}

TEST(DownloadFilesTest, ANonTransientErrorIsNotRetried) {
  testutil::ScopedTempDir dir;
  FakeRunFiles store;  // has no such file
  absl::StatusOr<DownloadFolder> folder = DownloadFolder::Open(dir.path());
  ASSERT_TRUE(folder.ok());
  auto file = folder->Create({"gone.bin"});
  ASSERT_TRUE(file.ok());
  absl::Status read = FetchRunFile(store, "run-1", Info("outputs/gone.bin", 5), **file, nullptr);
  EXPECT_EQ(read.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store.offsets.size(), 1u);
}

}  // namespace
}  // namespace runyard::cli
