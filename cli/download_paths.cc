#include "cli/download_paths.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace runyard::cli {
namespace {

constexpr size_t kMaxNameBytes = 255;    // NAME_MAX on Linux file systems
constexpr size_t kMaxPathBytes = 4000;   // below PATH_MAX, leaving room for the folder

absl::Status Refuse(const std::string& run_path, const std::string& why) {
  // The path may hold anything: show it escaped, never raw control bytes.
  std::string shown;
  for (char c : run_path) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      absl::StrAppend(&shown, "\\x", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    } else {
      shown.push_back(c);
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("refusing to download '", shown, "': ", why, " (a run file must stay inside the download folder)"));
}

}  // namespace

absl::StatusOr<std::vector<std::string>> SplitDownloadPath(const std::string& run_path) {
  if (run_path.empty()) return Refuse(run_path, "the path is empty");
  if (run_path.size() > kMaxPathBytes) return Refuse(run_path.substr(0, 80), "the path is too long");
  if (run_path.find('\0') != std::string::npos) return Refuse(run_path, "the path contains a NUL byte");
  if (run_path.front() == '/') return Refuse(run_path, "the path is absolute");
  std::vector<std::string> parts = absl::StrSplit(run_path, '/');
  for (const std::string& part : parts) {
    if (part.empty()) return Refuse(run_path, "the path has an empty component");
    if (part == "." || part == "..") return Refuse(run_path, absl::StrCat("the path has a '", part, "' component"));
    if (part.size() > kMaxNameBytes) return Refuse(run_path, "a component is longer than 255 bytes");
  }
  return parts;
}

std::vector<runyard::v1::FileInfo> FilesUnderPrefix(const std::vector<runyard::v1::FileInfo>& files,
                                                    const std::string& prefix) {
  std::vector<runyard::v1::FileInfo> selected;
  for (const auto& file : files) {
    if (absl::StartsWith(file.path(), prefix)) selected.push_back(file);
  }
  return selected;
}

}  // namespace runyard::cli
