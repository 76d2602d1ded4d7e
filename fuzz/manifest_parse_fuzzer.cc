// libFuzzer target for common::ParseManifest: the input is a (hostile) serialized
// runyard.v1.SnapshotManifest, as it arrives from a client or a blob store.
//
// A refusal must be FailedPrecondition. An accepted manifest must satisfy, checked here
// independently of the product code:
//   - at most max_entries entries, strictly sorted by path (so no duplicates);
//   - every path passes common::CheckRelativePath, has no trailing '/', and (re-checked by
//     hand) is relative, without NUL, empty, '.' or '..' components;
//   - no file is also a folder of another entry ("a" and "a/b");
//   - folders: mode 0755, size 0, no digest; files: mode 0644 or 0755, a valid SHA-256
//     (common::IsValidDigest, and 64 lowercase hex by hand), 0 <= size <= max_entry_bytes,
//     total size <= max_total_bytes;
//   - ManifestId(m) == Sha256Hex(SerializeManifest(m)) and is itself a valid digest;
//   - CheckManifest(m) is OK, and the re-serialized manifest parses again to the same bytes.
// A violation prints what was found and aborts, so libFuzzer keeps the input as a crash.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "common/digest.h"
#include "common/relative_path.h"
#include "common/snapshot_manifest.h"
#include "google/protobuf/stubs/logging.h"

namespace {

using runyard::common::ManifestBounds;

bool g_verbose = false;  // RUNYARD_FUZZ_VERBOSE=1: print what ParseManifest returned

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "\n*** manifest_parse_fuzzer: INVARIANT VIOLATED: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

ManifestBounds SmallBounds() {
  ManifestBounds bounds;
  bounds.max_manifest_bytes = 1 << 20;
  bounds.max_entries = 256;
  bounds.max_entry_bytes = 1 << 30;
  bounds.max_total_bytes = 1LL << 32;
  return bounds;
}

bool LowerHex64(const std::string& digest) {
  if (digest.size() != 64) return false;
  for (char c : digest) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// The path rules, re-stated without the product code.
bool PlainRelativePath(const std::string& path) {
  if (path.empty() || path.size() > 4096 || path.front() == '/' || path.back() == '/') return false;
  if (path.find('\0') != std::string::npos) return false;
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    const std::string_view part = std::string_view(path).substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part.empty() || part == "." || part == ".." || part.size() > 255) return false;
    if (slash == std::string::npos) return true;
    start = slash + 1;
  }
}

std::string Printable(const std::string& path) {
  std::string out;
  for (unsigned char c : path) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  // protobuf logs every proto3 string with invalid UTF-8; that is expected input here.
  google::protobuf::SetLogHandler(nullptr);
  g_verbose = std::getenv("RUNYARD_FUZZ_VERBOSE") != nullptr;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ManifestBounds bounds = SmallBounds();
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<runyard::v1::SnapshotManifest> parsed = runyard::common::ParseManifest(bytes, bounds);
  if (g_verbose) {
    std::fprintf(stderr, "ParseManifest: %s\n",
                 parsed.ok() ? ("OK, " + std::to_string(parsed->entries_size()) + " entries").c_str()
                             : parsed.status().ToString().c_str());
  }
  if (!parsed.ok()) {
    if (parsed.status().code() != absl::StatusCode::kFailedPrecondition) {
      Fail("refusal is not FailedPrecondition: " + parsed.status().ToString());
    }
    return 0;
  }
  const runyard::v1::SnapshotManifest& manifest = *parsed;

  if (manifest.entries_size() > bounds.max_entries) Fail("more entries than max_entries");
  std::set<std::string> files;
  std::set<std::string> all;
  int64_t total = 0;
  const std::string* previous = nullptr;
  for (const auto& entry : manifest.entries()) {
    const std::string& path = entry.path();
    const std::string shown = "'" + Printable(path) + "'";
    if (absl::Status ok = runyard::common::CheckRelativePath(path); !ok.ok()) {
      Fail("accepted a path CheckRelativePath refuses: " + shown + ": " + std::string(ok.message()));
    }
    if (!PlainRelativePath(path)) Fail("accepted a path that is not a plain relative path: " + shown);
    if (previous != nullptr && !(*previous < path)) {
      Fail("entries not strictly sorted: '" + Printable(*previous) + "' then " + shown);
    }
    previous = &path;
    all.insert(path);
    if (entry.directory()) {
      if (entry.mode() != 0755) Fail("folder with a mode other than 0755: " + shown);
      if (entry.size() != 0 || !entry.digest().empty()) Fail("folder with a size or digest: " + shown);
    } else {
      if (entry.mode() != 0644 && entry.mode() != 0755) Fail("file with a mode other than 0644/0755: " + shown);
      if (!runyard::common::IsValidDigest(entry.digest()) || !LowerHex64(entry.digest())) {
        Fail("file with an invalid digest: " + shown);
      }
      if (entry.size() < 0 || entry.size() > bounds.max_entry_bytes) Fail("file size out of range: " + shown);
      total += entry.size();
      if (total > bounds.max_total_bytes) Fail("total size over max_total_bytes at " + shown);
      files.insert(path);
    }
  }
  // No file is a folder of another entry.
  for (const std::string& path : all) {
    for (size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
      if (files.count(path.substr(0, slash)) != 0) {
        Fail("'" + Printable(path.substr(0, slash)) + "' is a file and a folder of '" + Printable(path) + "'");
      }
    }
  }

  const std::string serialized = runyard::common::SerializeManifest(manifest);
  const std::string id = runyard::common::ManifestId(manifest);
  if (id != runyard::common::Sha256Hex(serialized)) Fail("ManifestId is not the SHA-256 of the serialized manifest");
  if (!runyard::common::IsValidDigest(id)) Fail("ManifestId is not a valid digest: " + id);
  if (absl::Status ok = runyard::common::CheckManifest(manifest, bounds); !ok.ok()) {
    Fail("CheckManifest refuses what ParseManifest accepted: " + ok.ToString());
  }
  // The canonical form is accepted again and is stable.
  absl::StatusOr<runyard::v1::SnapshotManifest> again = runyard::common::ParseManifest(serialized, bounds);
  if (!again.ok()) Fail("the re-serialized manifest is refused: " + again.status().ToString());
  if (runyard::common::SerializeManifest(*again) != serialized) Fail("serialization is not stable");
  const runyard::common::ManifestTotals totals = runyard::common::Totals(manifest);
  if (totals.files != static_cast<int64_t>(files.size()) || totals.bytes != total) Fail("Totals disagree");
  return 0;
}
