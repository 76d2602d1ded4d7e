// Tests for cli/tar_gz_writer.h: what it writes must read back, byte for byte, with
// libarchive (runtime/archive.h's hostile-archive reader) and with GNU tar.

#include "cli/tar_gz_writer.h"

#include <sys/stat.h>

#include <clocale>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/archive.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::cli {
namespace {

namespace fs = std::filesystem;
using ::runyard::testutil::ScopedTempDir;
using ::testing::HasSubstr;

std::string ReadFile(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string ShellOutput(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  size_t got;
  while ((got = fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, got);
  pclose(pipe);
  return out;
}

absl::Status AddFile(TarGzWriter& writer, const std::string& path, uint32_t mode, const std::string& content) {
  if (absl::Status begun = writer.BeginFile(path, mode, static_cast<int64_t>(content.size())); !begun.ok()) {
    return begun;
  }
  // In uneven pieces, as blobs arrive from the server.
  for (size_t at = 0; at < content.size(); at += 700) {
    if (absl::Status wrote = writer.Write(std::string_view(content).substr(at, 700)); !wrote.ok()) return wrote;
  }
  return absl::OkStatus();
}

class TarGzWriterTest : public ::testing::Test {
 protected:
  // Writes the sample tree to archive(); names every entry it wrote.
  void WriteSample() {
    auto writer = TarGzWriter::Create(archive());
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->AddFolder("src", 0755).ok());
    ASSERT_TRUE(AddFile(**writer, "src/train.py", 0644, "print('hello')\n").ok());
    ASSERT_TRUE(AddFile(**writer, "src/run.sh", 0755, "#!/bin/sh\necho run\n").ok());
    ASSERT_TRUE(AddFile(**writer, "src/empty", 0644, "").ok());
    ASSERT_TRUE(AddFile(**writer, "src/block", 0644, std::string(512, 'b')).ok());
    ASSERT_TRUE(AddFile(**writer, "src/big", 0644, big_).ok());
    ASSERT_TRUE((*writer)->AddFolder(fs::path(long_folder_).parent_path().string(), 0755).ok());
    ASSERT_TRUE((*writer)->AddFolder(long_folder_, 0755).ok());
    ASSERT_TRUE(AddFile(**writer, long_file_, 0644, "deep\n").ok());
    ASSERT_TRUE((*writer)->AddFolder("données", 0755).ok());
    ASSERT_TRUE(AddFile(**writer, "données/é.txt", 0644, "accent\n").ok());
    ASSERT_TRUE((*writer)->Finish().ok());
  }

  fs::path archive() const { return temp_.path() / "snapshot.tar.gz"; }

  ScopedTempDir temp_;
  const std::string big_ = [] {
    std::string text;
    for (int i = 0; text.size() < 300000; ++i) text += "line " + std::to_string(i) + "\n";
    return text;
  }();
  const std::string long_folder_ = "src/" + std::string(90, 'd') + "/" + std::string(60, 'e');
  const std::string long_file_ = long_folder_ + "/" + std::string(70, 'f') + ".txt";
};

TEST_F(TarGzWriterTest, LibarchiveReadsBackEveryEntryByteForByte) {
  WriteSample();
  const fs::path out = temp_.path() / "out";
  fs::create_directory(out);
  // libarchive converts pax's UTF-8 names to the locale's charset; the test binary runs in "C".
  const std::string locale = setlocale(LC_CTYPE, nullptr);
  setlocale(LC_CTYPE, "C.UTF-8");
  const absl::Status extracted = runtime::ExtractArchive(archive(), out);
  setlocale(LC_CTYPE, locale.c_str());
  ASSERT_TRUE(extracted.ok()) << extracted;
  EXPECT_EQ(ReadFile(out / "src/train.py"), "print('hello')\n");
  EXPECT_EQ(ReadFile(out / "src/run.sh"), "#!/bin/sh\necho run\n");
  EXPECT_EQ(ReadFile(out / "src/empty"), "");
  EXPECT_EQ(ReadFile(out / "src/block"), std::string(512, 'b'));
  EXPECT_EQ(ReadFile(out / "src/big"), big_);
  EXPECT_EQ(ReadFile(out / long_file_), "deep\n");
  EXPECT_EQ(ReadFile(out / "données/é.txt"), "accent\n");
  EXPECT_NE(fs::status(out / "src/run.sh").permissions() & fs::perms::owner_exec, fs::perms::none);
  EXPECT_EQ(fs::status(out / "src/train.py").permissions() & fs::perms::owner_exec, fs::perms::none);
}

TEST_F(TarGzWriterTest, GnuTarListsAndExtractsTheSameTree) {
  if (ShellOutput("command -v tar").empty()) GTEST_SKIP() << "no tar on PATH";
  WriteSample();
  const std::string listing = ShellOutput("tar -tzf '" + archive().string() + "' 2>&1");
  EXPECT_THAT(listing, HasSubstr("src/\n"));
  EXPECT_THAT(listing, HasSubstr(long_file_ + "\n"));
  EXPECT_THAT(listing, HasSubstr("données/é.txt\n"));
  EXPECT_THAT(listing, ::testing::Not(HasSubstr("PaxHeader")));  // read as metadata, not files
  const fs::path out = temp_.path() / "gnu";
  fs::create_directory(out);
  EXPECT_EQ(ShellOutput("tar -xzf '" + archive().string() + "' -C '" + out.string() + "' 2>&1"), "");
  EXPECT_EQ(ReadFile(out / "src/big"), big_);
  EXPECT_EQ(ReadFile(out / long_file_), "deep\n");
}

TEST(PaxRecordTest, LengthCountsItsOwnDigits) {
  EXPECT_EQ(PaxRecord("path", "x"), "9 path=x\n");
  // A body of 98 bytes: "98" would make 100, which has three digits, so the record is 101.
  const std::string value(98 - std::string(" path=\n").size(), 'v');
  const std::string record = PaxRecord("path", value);
  EXPECT_EQ(record.size(), 101u);
  EXPECT_EQ(record.substr(0, 4), "101 ");
}

TEST_F(TarGzWriterTest, RefusesMoreOrFewerBytesThanAnnounced) {
  auto writer = TarGzWriter::Create(archive());
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->BeginFile("a", 0644, 3).ok());
  EXPECT_EQ((*writer)->Write("abcd").code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*writer)->Write("ab").ok());
  const absl::Status next = (*writer)->BeginFile("b", 0644, 1);
  EXPECT_EQ(next.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(next.message(), HasSubstr("1 bytes short"));
  EXPECT_EQ((*writer)->Finish().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(TarGzWriterTest, NothingMoreAfterFinish) {
  auto writer = TarGzWriter::Create(archive());
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Finish().ok());
  EXPECT_EQ((*writer)->Finish().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*writer)->AddFolder("late", 0755).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(TarGzWriterTest, NamesTheFileItCannotCreate) {
  const fs::path nowhere = temp_.path() / "missing" / "out.tar.gz";
  auto writer = TarGzWriter::Create(nowhere);
  ASSERT_FALSE(writer.ok());
  EXPECT_THAT(writer.status().message(), HasSubstr(nowhere.string()));
}

}  // namespace
}  // namespace runyard::cli
