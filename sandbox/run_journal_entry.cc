#include "sandbox/run_journal_entry.h"

#include <algorithm>
#include <optional>
#include <sstream>
#include <system_error>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "sandbox/cgroup_files.h"

namespace runyard::sandbox {
namespace fs = std::filesystem;
namespace {

std::optional<ContainmentMode> ModeNamed(const std::string& name) {
  for (ContainmentMode mode :
       {ContainmentMode::kCgroupV2, ContainmentMode::kCgroupV1, ContainmentMode::kProcessGroup}) {
    if (ModeName(mode) == name) return mode;
  }
  return std::nullopt;
}

absl::Status CheckCgroupDir(const std::string& run_id, const fs::path& dir) {
  const std::string shown = "cgroup " + dir.string();
  if (!dir.is_absolute() || dir != dir.lexically_normal()) {
    return absl::InvalidArgumentError(shown + " is not a plain absolute path");
  }
  if (dir.filename() != run_id) return absl::InvalidArgumentError(shown + " is not named by the run id");
  if (dir.parent_path().filename() != "runyard") {
    return absl::InvalidArgumentError(shown + " is not in a runyard folder");
  }
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(dir, ec))) return absl::OkStatus();  // gone: nothing to do there
  if (fs::canonical(dir, ec) != dir || ec) return absl::InvalidArgumentError(shown + " is reached through a link");
  if (!fs::is_directory(dir, ec) || !OnCgroupFilesystem(dir)) {
    return absl::InvalidArgumentError(shown + " is not a folder on a cgroup filesystem");
  }
  return absl::OkStatus();
}

}  // namespace

bool FitsJournalName(const std::string& run_id) {
  return !run_id.empty() && run_id.size() <= 200 && run_id.front() != '.' &&
         run_id.find_first_of(std::string("/\n\0", 3)) == std::string::npos;
}

absl::StatusOr<std::string> FormatJournalEntry(const JournalEntry& entry) {
  std::string text = absl::StrCat("mode ", ModeName(entry.mode), "\ntag ", entry.tag, "\n");
  for (const fs::path& dir : entry.cgroups) absl::StrAppend(&text, "cgroup ", dir.string(), "\n");
  const size_t lines = 2 + entry.cgroups.size();
  if (static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) != lines) {
    return absl::InvalidArgumentError("a tag or cgroup path holds a line break");
  }
  return text;
}

absl::StatusOr<JournalEntry> ParseJournalEntry(const std::string& run_id, const std::string& text) {
  JournalEntry entry;
  bool has_mode = false;
  bool has_tag = false;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    const size_t space = line.find(' ');
    const std::string key = line.substr(0, space);
    const std::string value = space == std::string::npos ? "" : line.substr(space + 1);
    if (key == "mode" && !has_mode) {
      std::optional<ContainmentMode> mode = ModeNamed(value);
      if (!mode) return absl::InvalidArgumentError(absl::StrCat("unknown mode \"", value, "\""));
      entry.mode = *mode;
      has_mode = true;
    } else if (key == "tag" && !has_tag) {
      entry.tag = value;
      has_tag = true;
    } else if (key == "cgroup") {
      entry.cgroups.emplace_back(value);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unexpected line \"", absl::CHexEscape(line.substr(0, 80)), "\""));
    }
  }
  if (!has_mode) return absl::InvalidArgumentError("no mode");
  switch (entry.mode) {
    case ContainmentMode::kCgroupV2:
      if (entry.cgroups.size() != 1) return absl::InvalidArgumentError("cgroup v2 needs exactly one cgroup");
      break;
    case ContainmentMode::kCgroupV1:
      if (entry.cgroups.empty()) return absl::InvalidArgumentError("cgroup v1 needs its cgroups");
      break;
    case ContainmentMode::kProcessGroup:
      if (!entry.cgroups.empty()) return absl::InvalidArgumentError("the process group has no cgroups");
      if (entry.tag.empty()) return absl::InvalidArgumentError("the process group needs a tag");
      break;
  }
  for (const fs::path& dir : entry.cgroups) {
    if (absl::Status checked = CheckCgroupDir(run_id, dir); !checked.ok()) return checked;
  }
  return entry;
}

}  // namespace runyard::sandbox
