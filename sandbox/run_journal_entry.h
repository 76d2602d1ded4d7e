#pragma once

// Internal to sandbox: one run's entry in the run journal (run_journal.h) as text, and the
// checks that make an entry read back safe to act on: a corrupt or forged one must not
// lead the clean-up to kill or remove anything outside the run's own cgroups.

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sandbox/containment.h"

namespace runyard::sandbox {

struct JournalEntry {
  ContainmentMode mode = ContainmentMode::kProcessGroup;
  std::string tag;
  std::vector<std::filesystem::path> cgroups;  // freezer first on cgroup v1
};

// A run id that can name the run's file: not empty, no '/', no leading '.' (temporary
// files start with one), no line break.
bool FitsJournalName(const std::string& run_id);

// "mode cgroup v2\ntag ...\ncgroup /sys/fs/cgroup/...\n"; fails where a value holds a
// line break.
absl::StatusOr<std::string> FormatJournalEntry(const JournalEntry& entry);

// The entry `text` describes, checked for run `run_id`: a mode, the cgroups that mode has
// (one on v2, at least one on v1, none for the process group, which needs a tag instead),
// each an absolute path without "." or "..", named by the run id, in a "runyard" folder,
// and, where it still exists, a directory on a cgroup filesystem reached without a
// symbolic link.
absl::StatusOr<JournalEntry> ParseJournalEntry(const std::string& run_id, const std::string& text);

}  // namespace runyard::sandbox
