// Tests for runtime/file_sync.h: mirroring outputs/ and logs/ into run history as
// appends, whole re-sends of rewritten files, and never following symlinks.

#include "runtime/file_sync.h"

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::runtime {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

using ::runyard::testutil::ScopedTempDir;

struct Sent {
  std::string path;
  int64_t offset;
  std::string data;
  bool truncate;
  bool operator==(const Sent&) const = default;
};

void PrintTo(const Sent& sent, std::ostream* os) {
  *os << "{" << sent.path << " @" << sent.offset << " \"" << sent.data.substr(0, 40)
      << (sent.data.size() > 40 ? "...\"" : "\"") << " (" << sent.data.size() << " bytes)"
      << (sent.truncate ? " truncate" : "") << "}";
}

class RecordingObserver : public RunObserver {
 public:
  void OnStatus(runyard::v1::RunStatus) override {}
  void OnFileBytes(const std::string& path, int64_t offset, std::string_view data,
                   bool truncate) override {
    sent.push_back({path, offset, std::string(data), truncate});
  }
  void OnFinished(const RunOutcome&) override {}

  // What was sent since the last call.
  std::vector<Sent> Take() {
    std::vector<Sent> out;
    out.swap(sent);
    return out;
  }

  std::vector<Sent> sent;
};

class DirectorySyncTest : public ::testing::Test {
 protected:
  fs::path outputs() const { return tmp_.path() / "wd" / "outputs"; }
  fs::path logs() const { return tmp_.path() / "wd" / "logs"; }

  void SetUp() override {
    fs::create_directories(outputs());
    fs::create_directories(logs());
  }

  static void Write(const fs::path& file, const std::string& text) {
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
  }
  static void AppendTo(const fs::path& file, const std::string& text) {
    std::ofstream(file, std::ios::binary | std::ios::app) << text;
  }
  // Rewrites the bytes of `file` in place, keeping its size, and sets its mtime.
  static void RewriteInPlace(const fs::path& file, const std::string& text,
                             fs::file_time_type mtime) {
    std::fstream(file, std::ios::binary | std::ios::in | std::ios::out) << text;
    fs::last_write_time(file, mtime);
  }

  ScopedTempDir tmp_;
  RecordingObserver observer_;
  DirectorySync sync_{{{outputs(), "outputs"}, {logs(), "logs"}}, &observer_};
};

TEST_F(DirectorySyncTest, NewFileIsSentWhole) {
  Write(outputs() / "model.txt", "weights");
  sync_.Scan();
  EXPECT_THAT(observer_.Take(), ElementsAre(Sent{"outputs/model.txt", 0, "weights", false}));
}

TEST_F(DirectorySyncTest, EachRootGetsItsPrefixAndSubfoldersAreKept) {
  Write(outputs() / "ckpt" / "epoch1.bin", "e1");
  Write(logs() / "metrics.jsonl", "{}\n");
  sync_.Scan();
  EXPECT_THAT(observer_.Take(),
              ::testing::UnorderedElementsAre(Sent{"outputs/ckpt/epoch1.bin", 0, "e1", false},
                                              Sent{"logs/metrics.jsonl", 0, "{}\n", false}));
}

TEST_F(DirectorySyncTest, EmptyNewFileIsAnnouncedWithTruncate) {
  Write(outputs() / "empty.txt", "");
  sync_.Scan();
  EXPECT_THAT(observer_.Take(), ElementsAre(Sent{"outputs/empty.txt", 0, "", true}));
}

TEST_F(DirectorySyncTest, UnchangedFileIsNotSentAgain) {
  Write(outputs() / "model.txt", "weights");
  sync_.Scan();
  observer_.Take();
  sync_.Scan();
  sync_.Scan(/*final_scan=*/true);
  EXPECT_THAT(observer_.Take(), IsEmpty());
}

TEST_F(DirectorySyncTest, AppendedBytesAreSentAsATailAtTheRightOffset) {
  Write(logs() / "train.log", "epoch 1\n");
  sync_.Scan();
  observer_.Take();
  AppendTo(logs() / "train.log", "epoch 2\n");
  sync_.Scan();
  EXPECT_THAT(observer_.Take(), ElementsAre(Sent{"logs/train.log", 8, "epoch 2\n", false}));
  AppendTo(logs() / "train.log", "epoch 3\n");
  sync_.Scan(/*final_scan=*/true);
  EXPECT_THAT(observer_.Take(), ElementsAre(Sent{"logs/train.log", 16, "epoch 3\n", false}));
}

TEST_F(DirectorySyncTest, LargeFileIsSentInConsecutiveChunks) {
  const std::string big(2 * 1024 * 1024 + 5, 'x');
  Write(outputs() / "big.bin", big);
  sync_.Scan();
  std::vector<Sent> sent = observer_.Take();
  ASSERT_GE(sent.size(), 2u);
  int64_t expected_offset = 0;
  std::string joined;
  for (const Sent& piece : sent) {
    EXPECT_EQ(piece.path, "outputs/big.bin");
    EXPECT_EQ(piece.offset, expected_offset);
    EXPECT_FALSE(piece.truncate);
    expected_offset += static_cast<int64_t>(piece.data.size());
    joined += piece.data;
  }
  EXPECT_EQ(joined, big);
}

TEST_F(DirectorySyncTest, ShrunkFileIsSentWholeWithTruncate) {
  Write(outputs() / "state.json", "{\"epoch\": 10}");
  sync_.Scan();
  observer_.Take();
  Write(outputs() / "state.json", "{}");
  sync_.Scan();
  EXPECT_THAT(observer_.Take(), ElementsAre(Sent{"outputs/state.json", 0, "{}", true}));
}

TEST_F(DirectorySyncTest, SameSizeRewriteIsSentWholeWithTruncateOnTheFinalScan) {
  const fs::path file = outputs() / "model.txt";
  Write(file, "version-1");
  sync_.Scan();
  observer_.Take();
  RewriteInPlace(file, "version-2", fs::last_write_time(file) + std::chrono::seconds(1));
  sync_.Scan(/*final_scan=*/true);
  EXPECT_THAT(observer_.Take(), ElementsAre(Sent{"outputs/model.txt", 0, "version-2", true}));
}

TEST_F(DirectorySyncTest, FileReplacedByALargerOneIsResentWholeByTheFinalScan) {
  const fs::path file = outputs() / "model.txt";
  Write(file, "aaaa");
  sync_.Scan();
  observer_.Take();
  Write(file, "bbbbbbbb");
  sync_.Scan(/*final_scan=*/true);
  EXPECT_THAT(observer_.Take(), ElementsAre(Sent{"outputs/model.txt", 0, "bbbbbbbb", true}));
}

// A live scan that sees a same-size rewrite sends nothing; the final scan's digest check
// must still find it.
TEST_F(DirectorySyncTest, SameSizeRewriteSeenByALiveScanIsStillResentByTheFinalScan) {
  const fs::path file = outputs() / "model.txt";
  Write(file, "version-1");
  sync_.Scan();
  observer_.Take();
  RewriteInPlace(file, "version-2", fs::last_write_time(file) + std::chrono::seconds(1));
  sync_.Scan();  // a live scan in between, as the runner does every sync_interval
  sync_.Scan(/*final_scan=*/true);
  EXPECT_THAT(observer_.Take(), ElementsAre(Sent{"outputs/model.txt", 0, "version-2", true}));
}

// A same-size rewrite within the file system's timestamp granularity (or by a tool that
// keeps mtimes) leaves size and mtime as they were: only the digest tells.
TEST_F(DirectorySyncTest, SameSizeRewriteWithUnchangedMtimeIsResentByTheFinalScan) {
  const fs::path file = outputs() / "model.txt";
  Write(file, "version-1");
  sync_.Scan();
  observer_.Take();
  RewriteInPlace(file, "version-2", fs::last_write_time(file));
  sync_.Scan(/*final_scan=*/true);
  EXPECT_THAT(observer_.Take(), ElementsAre(Sent{"outputs/model.txt", 0, "version-2", true}));
}

TEST_F(DirectorySyncTest, SymlinkToAFileIsNotFollowed) {
  Write(tmp_.path() / "secret.txt", "do not upload");
  fs::create_symlink(tmp_.path() / "secret.txt", outputs() / "link.txt");
  Write(outputs() / "real.txt", "ok");
  sync_.Scan(/*final_scan=*/true);
  EXPECT_THAT(observer_.Take(), ElementsAre(Sent{"outputs/real.txt", 0, "ok", false}));
}

TEST_F(DirectorySyncTest, SymlinkToAFolderIsNotFollowed) {
  Write(tmp_.path() / "elsewhere" / "secret.txt", "do not upload");
  fs::create_directory_symlink(tmp_.path() / "elsewhere", outputs() / "dir_link");
  sync_.Scan(/*final_scan=*/true);
  EXPECT_THAT(observer_.Take(), IsEmpty());
}

TEST_F(DirectorySyncTest, MissingRootIsSkipped) {
  RecordingObserver observer;
  DirectorySync sync({{tmp_.path() / "absent", "outputs"}}, &observer);
  sync.Scan(/*final_scan=*/true);
  EXPECT_THAT(observer.Take(), IsEmpty());
}

}  // namespace
}  // namespace runyard::runtime
