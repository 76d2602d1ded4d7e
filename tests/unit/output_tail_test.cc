// Tests for runtime/output_tail.h: what a run writes to its output file is handed on once,
// in order, as bytes or as ranges of the file, and the size limit cuts the file.

#include "runtime/output_tail.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::runtime {
namespace {

namespace fs = std::filesystem;
using ::runyard::testutil::ScopedTempDir;

void Append(const fs::path& file, const std::string& bytes) {
  std::ofstream(file, std::ios::binary | std::ios::app) << bytes;
}

std::string Contents(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(OutputTailTest, HandsOnEachNewByteOnceInOrder) {
  ScopedTempDir tmp;
  const fs::path file = tmp.path() / "std_log.txt";
  std::string got;
  OutputTail tail(file, 0, OutputTail::BytesSink([&](std::string_view bytes) { got.append(bytes); }));
  EXPECT_EQ(tail.ReadNew(), 0);  // not created yet
  Append(file, "first\n");
  EXPECT_EQ(tail.ReadNew(), 6);
  EXPECT_EQ(tail.ReadNew(), 0);
  Append(file, "second\n");
  tail.Finish();
  EXPECT_EQ(got, "first\nsecond\n");
}

TEST(OutputTailTest, RangesCoverTheFileInPiecesOfAtMostAMebibyte) {
  ScopedTempDir tmp;
  const fs::path file = tmp.path() / "std_log.txt";
  std::vector<std::pair<int64_t, int64_t>> ranges;
  OutputTail tail(file, 0, OutputTail::RangeSink([&](int64_t offset, int64_t length) {
    ranges.emplace_back(offset, length);
  }));
  Append(file, std::string((5 << 19) + 7, 'x'));  // 2.5 MiB and a bit
  tail.ReadNew();
  Append(file, "more\n");
  tail.Finish();
  int64_t covered = 0;
  for (const auto& [offset, length] : ranges) {
    EXPECT_EQ(offset, covered);
    EXPECT_GT(length, 0);
    EXPECT_LE(length, 1 << 20);
    covered += length;
  }
  EXPECT_EQ(covered, static_cast<int64_t>(fs::file_size(file)));
  EXPECT_EQ(ranges.size(), 4u);  // 1 + 1 + 0.5 MiB, then the last line
}

TEST(OutputTailTest, PastTheLimitTheFileIsCutAndEndsWithOneMarkerLine) {
  ScopedTempDir tmp;
  const fs::path file = tmp.path() / "std_log.txt";
  int64_t covered = 0;
  OutputTail tail(file, 1000, OutputTail::RangeSink([&](int64_t offset, int64_t length) {
    EXPECT_EQ(offset, covered);
    covered += length;
  }));
  Append(file, std::string(1500, 'a'));
  tail.ReadNew();
  Append(file, std::string(300, 'b'));  // the writers go on appending at the new end
  tail.Finish();
  const std::string contents = Contents(file);
  EXPECT_EQ(contents.substr(0, 1000), std::string(1000, 'a'));
  EXPECT_NE(contents.find("[runyard] log cut here"), std::string::npos);
  EXPECT_EQ(contents.find("bbb"), std::string::npos);
  EXPECT_EQ(tail.dropped_bytes(), 800);
  EXPECT_EQ(covered, static_cast<int64_t>(contents.size()));  // the marker was handed on too
}

}  // namespace
}  // namespace runyard::runtime
