#include "sandbox/run_journal.h"

#include <signal.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/read_file.h"
#include "sandbox/cgroup_files.h"
#include "sandbox/cgroup_v1.h"
#include "sandbox/cgroup_v2.h"
#include "sandbox/process_group_containment.h"
#include "sandbox/run_journal_entry.h"

namespace runyard::sandbox {
namespace fs = std::filesystem;
namespace {

auto Log() { return common::Logger("sandbox"); }

// SIGKILLed processes go at once unless stuck in the kernel (D state, a dead NFS server).
constexpr auto kGoneWait = std::chrono::seconds(5);
// An entry is a few lines; anything much larger is not one.
constexpr uintmax_t kMaxEntryBytes = 64 * 1024;

absl::StatusOr<JournalEntry> ReadEntry(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(fs::symlink_status(file, ec))) return absl::InvalidArgumentError("not a plain file");
  if (fs::file_size(file, ec) > kMaxEntryBytes || ec) return absl::InvalidArgumentError("too large");
  absl::StatusOr<std::string> text = common::ReadWholeFile(file);
  if (!text.ok()) return text.status();
  return ParseJournalEntry(file.filename().string(), *text);
}

// What is left of a run, as a containment that can be killed and removed (not joined);
// only the cgroups still there.
std::unique_ptr<Containment> Adopt(const JournalEntry& entry, std::vector<fs::path>& there) {
  std::error_code ec;
  for (const fs::path& dir : entry.cgroups) {
    if (fs::exists(dir, ec)) there.push_back(dir);
  }
  if (entry.mode == ContainmentMode::kProcessGroup) return std::make_unique<ProcessGroupContainment>(entry.tag);
  if (there.empty()) return nullptr;
  if (entry.mode == ContainmentMode::kCgroupV2) return std::make_unique<CgroupV2>(there.front());
  return std::make_unique<CgroupV1>(there);
}

bool WaitUntilEmpty(Containment& containment) {
  const auto deadline = std::chrono::steady_clock::now() + kGoneWait;
  while (!containment.Empty()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// Kills and removes what is left of one run; false where something outlived it.
bool CleanUp(const JournalEntry& entry, RunJournal::Leftover& leftover) {
  std::vector<fs::path> there;
  std::unique_ptr<Containment> left = Adopt(entry, there);
  bool gone = true;
  if (left != nullptr) {
    leftover.processes_killed = static_cast<int>(entry.mode == ContainmentMode::kProcessGroup
                                                     ? FindTaggedProcesses(entry.tag).size()
                                                     : ReadPids(there.front() / "cgroup.procs").size());
    left->KillAll();
    gone = WaitUntilEmpty(*left);
    left.reset();  // removes the cgroups once empty
  }
  std::error_code ec;
  leftover.cgroups_removed = true;
  for (const fs::path& dir : there) {
    if (fs::exists(dir, ec)) leftover.cgroups_removed = false;
  }
  return gone && leftover.cgroups_removed;
}

}  // namespace

RunJournal::RunJournal(fs::path dir) : dir_(std::move(dir)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);  // a failure shows in Record
}

absl::Status RunJournal::Record(const std::string& run_id, const Containment& containment, const std::string& tag) {
  if (!FitsJournalName(run_id)) return absl::InvalidArgumentError("run id unfit for a journal file: " + run_id);
  absl::StatusOr<std::string> text = FormatJournalEntry({containment.mode(), tag, containment.CgroupDirectories()});
  if (!text.ok()) return text.status();
  // Written aside and renamed: a reader sees the whole entry or none.
  const fs::path temporary = dir_ / ("." + run_id + ".tmp");
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << *text;
    out.close();
    if (!out) return absl::UnavailableError("cannot write " + temporary.string());
  }
  std::error_code ec;
  fs::rename(temporary, dir_ / run_id, ec);
  if (ec) {
    fs::remove(temporary, ec);
    return absl::UnavailableError(absl::StrCat("cannot record run ", run_id, " in ", dir_.string()));
  }
  return absl::OkStatus();
}

void RunJournal::Forget(const std::string& run_id) {
  if (!FitsJournalName(run_id)) return;
  std::error_code ec;
  fs::remove(dir_ / run_id, ec);
}

std::vector<RunJournal::Leftover> RunJournal::CleanUpLeftovers() {
  std::vector<fs::path> files;  // listed first: entries are removed along the way
  std::error_code ec;
  for (const fs::directory_entry& file : fs::directory_iterator(dir_, ec)) files.push_back(file.path());

  std::vector<Leftover> cleaned;
  for (const fs::path& file : files) {
    const std::string run_id = file.filename().string();
    if (run_id.front() == '.') {  // a Record cut short: its run never started
      fs::remove(file, ec);
      continue;
    }
    absl::StatusOr<JournalEntry> entry = ReadEntry(file);
    if (!entry.ok()) {
      Log()->warn("run journal: dropped {}, untouched: {}", file.string(), std::string(entry.status().message()));
      fs::remove(file, ec);
      continue;
    }
    Leftover leftover{run_id};
    if (!CleanUp(*entry, leftover)) {
      Log()->warn("run {} (left by the agent's last run): something outlived its clean-up ({} processes "
                  "killed, cgroups {}removed); kept for the next start",
                  run_id, leftover.processes_killed, leftover.cgroups_removed ? "" : "not ");
    } else {
      Log()->info("run {} (left by the agent's last run): {} processes killed, its {} cleaned up", run_id,
                  leftover.processes_killed, ModeName(entry->mode));
      Forget(run_id);
    }
    cleaned.push_back(std::move(leftover));
  }
  return cleaned;
}

}  // namespace runyard::sandbox
