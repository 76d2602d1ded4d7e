// libFuzzer target for runtime::ExtractArchive: the input is a (hostile) snapshot archive.
//
// Each run writes the input to <root>/work/input.tar, extracts it into the empty folder
// <root>/work/dest with small limits, and then checks, whatever ExtractArchive returned:
//   - nothing was created, replaced or removed outside dest (<root> holds only work/,
//     work/ holds only dest/ and input.tar, and input.tar is unchanged);
//   - under dest there are only folders and regular files: no symlink, hard link
//     (st_nlink > 1), device, fifo or socket;
//   - no setuid/setgid/sticky bit anywhere under dest;
//   - no file is larger than the per-file limit, and all of them together are within
//     the total limit.
// A violation prints what was found and aborts, so libFuzzer keeps the input as a crash.
// <root> is a fresh mkdtemp folder per process (under $TMPDIR), so parallel jobs
// (-jobs/-workers/-fork) never share files.
//
// A custom mutator re-computes the tar header checksums after libFuzzer's mutation (for
// inputs that are not gzip'd): libarchive is not coverage-instrumented, and without this
// nearly every mutated header would be refused for its checksum before reaching our code.

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <system_error>

#include "runtime/archive.h"

namespace fs = std::filesystem;

namespace {

constexpr int64_t kMaxEntries = 64;
constexpr int64_t kMaxEntryBytes = 1 << 20;
constexpr int64_t kMaxTotalBytes = 4 << 20;

fs::path g_root;      // per-process, made in LLVMFuzzerInitialize
bool g_verbose = false;  // RUNYARD_FUZZ_VERBOSE=1: print what ExtractArchive returned

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "\n*** archive_extract_fuzzer: INVARIANT VIOLATED: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

void RemoveRoot() {
  std::error_code ec;
  if (!g_root.empty()) fs::remove_all(g_root, ec);
}

// The names directly inside `folder` (without "." and "..").
std::set<std::string> List(const fs::path& folder) {
  std::set<std::string> names;
  DIR* dir = ::opendir(folder.c_str());
  if (dir == nullptr) Fail("cannot list " + folder.string() + ": " + std::strerror(errno));
  while (const struct dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.insert(name);
  }
  ::closedir(dir);
  return names;
}

std::string Describe(const std::set<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += " '" + name + "'";
  return out;
}

// Walks `folder` without following anything, checking every entry; returns total bytes.
int64_t CheckTree(const fs::path& folder, int depth) {
  if (depth > 4096) Fail("folders nested deeper than 4096 under dest");
  int64_t total = 0;
  for (const std::string& name : List(folder)) {
    const fs::path path = folder / name;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) Fail("cannot lstat " + path.string() + ": " + std::strerror(errno));
    if (st.st_mode & (S_ISUID | S_ISGID | S_ISVTX)) {
      char mode[16];
      std::snprintf(mode, sizeof mode, "%o", static_cast<unsigned>(st.st_mode & 07777));
      Fail("setuid/setgid/sticky bit (mode " + std::string(mode) + ") on " + path.string());
    }
    if (S_ISDIR(st.st_mode)) {
      total += CheckTree(path, depth + 1);
    } else if (S_ISREG(st.st_mode)) {
      if (st.st_nlink != 1) Fail("hard link (st_nlink " + std::to_string(st.st_nlink) + ") at " + path.string());
      if (st.st_size > kMaxEntryBytes) {
        Fail("file over the per-file limit (" + std::to_string(st.st_size) + " bytes): " + path.string());
      }
      total += st.st_size;
    } else {
      const char* kind = S_ISLNK(st.st_mode)    ? "symlink"
                         : S_ISCHR(st.st_mode)  ? "character device"
                         : S_ISBLK(st.st_mode)  ? "block device"
                         : S_ISFIFO(st.st_mode) ? "fifo"
                         : S_ISSOCK(st.st_mode) ? "socket"
                                                : "unknown file type";
      Fail(std::string(kind) + " extracted at " + path.string());
    }
  }
  return total;
}

// --- tar checksum repair, for the custom mutator -----------------------------------------

uint64_t ParseSize(const uint8_t* field, size_t n) {
  if (field[0] & 0x80) {  // base-256 (GNU/star): big-endian binary in the remaining bytes
    uint64_t value = 0;
    for (size_t i = 1; i < n; ++i) {
      if (value >> 56) return UINT64_MAX;
      value = (value << 8) | field[i];
    }
    return value;
  }
  size_t i = 0;
  while (i < n && (field[i] == ' ' || field[i] == 0)) ++i;
  uint64_t value = 0;
  for (; i < n && field[i] >= '0' && field[i] <= '7'; ++i) value = value * 8 + (field[i] - '0');
  return value;
}

bool AllZero(const uint8_t* block) {
  for (size_t i = 0; i < 512; ++i) {
    if (block[i] != 0) return false;
  }
  return true;
}

void FixTarChecksums(uint8_t* data, size_t size) {
  size_t pos = 0;
  for (int headers = 0; pos + 512 <= size && headers < 4096; ++headers) {
    uint8_t* h = data + pos;
    if (AllZero(h)) {
      pos += 512;
      continue;
    }
    unsigned sum = 0;
    for (size_t i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : h[i];
    std::snprintf(reinterpret_cast<char*>(h + 148), 8, "%06o", sum & 0777777);  // writes 6 digits + NUL
    h[155] = ' ';
    const uint64_t body = ParseSize(h + 124, 12);
    if (body > size) return;
    pos += 512 + ((body + 511) / 512) * 512;
    // Old GNU sparse headers may be followed by extension blocks (flag at 482 / 504).
    if (h[156] == 'S' && h[482] != 0) {
      while (pos + 512 <= size && data[pos + 504] != 0) pos += 512;
      pos += 512;
    }
  }
}

}  // namespace

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  size = LLVMFuzzerMutate(data, size, max_size);
  const bool gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  // Now and then keep the bad checksum, so that refusal path stays covered too.
  if (!gzip && std::minstd_rand(seed)() % 16 != 0) FixTarChecksums(data, size);
  return size;
}

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/runyard-archive-fuzz-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::perror(("archive_extract_fuzzer: mkdtemp " + pattern).c_str());
    std::abort();
  }
  g_root = pattern;
  g_verbose = std::getenv("RUNYARD_FUZZ_VERBOSE") != nullptr;
  std::atexit(RemoveRoot);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fs::path parent = g_root / "work";
  const fs::path input = parent / "input.tar";
  const fs::path dest = parent / "dest";
  const std::string bytes(reinterpret_cast<const char*>(data), size);

  std::error_code ec;
  if (!fs::create_directory(parent, ec) || ec) Fail("cannot create " + parent.string() + ": " + ec.message());
  if (!fs::create_directory(dest, ec) || ec) Fail("cannot create " + dest.string() + ": " + ec.message());
  {
    std::ofstream out(input, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) Fail("cannot write " + input.string());
  }

  runyard::runtime::ExtractLimits limits;
  limits.max_entries = kMaxEntries;
  limits.max_entry_bytes = kMaxEntryBytes;
  limits.max_total_bytes = kMaxTotalBytes;
  const absl::Status status = runyard::runtime::ExtractArchive(input, dest, limits);
  // Refusals are fine; what matters is what is on disk.
  if (g_verbose) std::fprintf(stderr, "ExtractArchive: %s\n", status.ToString().c_str());

  // Nothing outside dest.
  if (const auto names = List(g_root); names != std::set<std::string>{"work"}) {
    Fail("the fuzz root holds" + Describe(names) + " (expected only 'work')");
  }
  if (const auto names = List(parent); names != std::set<std::string>{"dest", "input.tar"}) {
    Fail("the folder around dest holds" + Describe(names) + " (expected only 'dest' and 'input.tar')");
  }
  struct stat st {};
  if (::lstat(dest.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) Fail("dest is no longer a plain folder");
  if (::lstat(input.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
    Fail("the input file is no longer a plain file");
  }
  {
    std::ifstream in(input, std::ios::binary);
    const std::string now((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (now != bytes) Fail("the input archive was modified");
  }

  // Inside dest: only folders and regular files, no special bits, bounded sizes.
  const int64_t total = CheckTree(dest, 0);
  if (total > kMaxTotalBytes) Fail("dest holds " + std::to_string(total) + " bytes, over the total limit");

  fs::remove_all(parent, ec);
  if (ec || fs::exists(parent)) Fail("cannot remove " + parent.string() + ": " + ec.message());
  return 0;
}
