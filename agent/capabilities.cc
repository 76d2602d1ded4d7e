#include "agent/capabilities.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"
#include "common/read_file.h"

namespace runyard::agent {
namespace fs = std::filesystem;
namespace {

auto Log() { return common::Logger("agent"); }

constexpr int64_t kMiB = 1024 * 1024;

std::vector<absl::string_view> Words(absl::string_view text) {
  return absl::StrSplit(text, absl::ByAnyChar(" \t\n"), absl::SkipEmpty());
}

bool HasToken(absl::string_view list, absl::string_view token) {
  for (absl::string_view item : absl::StrSplit(list, ',')) {
    if (item == token) return true;
  }
  return false;
}

// The first line of some output, for a warning.
std::string FirstLine(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  return std::string(text.substr(0, text.find('\n')));
}

}  // namespace

// ------------------------------------------------------------------ parsers

absl::StatusOr<std::vector<runyard::v1::Gpu>> ParseNvidiaSmiGpus(absl::string_view csv) {
  std::vector<runyard::v1::Gpu> gpus;
  for (absl::string_view line : absl::StrSplit(csv, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, ',');
    auto refused = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("nvidia-smi line '", line, "': ", why));
    };
    if (fields.size() != 4) {
      return refused(
          absl::StrCat("expected 4 fields (index, name, memory.total, uuid), got ", fields.size()));
    }
    for (auto& field : fields) field = absl::StripAsciiWhitespace(field);
    runyard::v1::Gpu& gpu = gpus.emplace_back();
    int32_t index = 0;
    if (!absl::SimpleAtoi(fields[0], &index) || index < 0)
      return refused("the index is not a number");
    gpu.set_index(index);
    if (fields[1].empty()) return refused("the name is empty");
    gpu.set_name(std::string(fields[1]));
    int64_t mib = 0;
    if (fields[2] != "[N/A]" && (!absl::SimpleAtoi(fields[2], &mib) || mib < 0)) {
      return refused("memory.total is not a number of MiB");
    }
    gpu.set_memory_bytes(mib * kMiB);
    gpu.set_uuid(std::string(fields[3]));
  }
  return gpus;
}

absl::StatusOr<int64_t> ParseMemTotal(absl::string_view meminfo) {
  for (absl::string_view line : absl::StrSplit(meminfo, '\n')) {
    if (!absl::StartsWith(line, "MemTotal:")) continue;
    const std::vector<absl::string_view> words = Words(line.substr(9));
    int64_t kib = 0;
    if (words.empty() || !absl::SimpleAtoi(words[0], &kib) || kib <= 0 ||
        (words.size() > 1 && words[1] != "kB")) {
      return absl::InvalidArgumentError(absl::StrCat("/proc/meminfo: cannot read '", line, "'"));
    }
    return kib * 1024;
  }
  return absl::InvalidArgumentError("/proc/meminfo has no MemTotal line");
}

std::optional<double> CpuQuotaFromCpuMax(absl::string_view cpu_max) {
  const std::vector<absl::string_view> words = Words(cpu_max);
  if (words.empty() || words.size() > 2) return std::nullopt;
  return CpuQuotaFromCfs(words[0], words.size() == 2 ? words[1] : "100000");
}

std::optional<double> CpuQuotaFromCfs(absl::string_view quota_us, absl::string_view period_us) {
  int64_t quota = 0, period = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(quota_us), &quota) || quota <= 0)
    return std::nullopt;  // "max", -1
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(period_us), &period) || period <= 0)
    return std::nullopt;
  return static_cast<double>(quota) / static_cast<double>(period);
}

std::optional<int64_t> MemoryLimitFrom(absl::string_view text) {
  int64_t bytes = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &bytes) || bytes <= 0)
    return std::nullopt;  // "max"
  return bytes;
}

int UsableCpus(int affinity_cpus, std::optional<double> quota) {
  int cpus = std::max(affinity_cpus, 1);
  // A hair below the next whole CPU, so 2.0000001 from rounding stays 2.
  if (quota) cpus = std::min(cpus, static_cast<int>(std::ceil(*quota - 1e-6)));
  return std::max(cpus, 1);
}

std::vector<fs::path> CgroupFolders(absl::string_view mountinfo, absl::string_view proc_self_cgroup,
                                    absl::string_view controller) {
  const bool v2 = controller.empty();
  // The hierarchy's mount: "<id> <parent> <dev> <root> <mount point> <options>... - <type> <source>
  // <super options>"
  std::string root, mount;
  for (absl::string_view line : absl::StrSplit(mountinfo, '\n')) {
    const size_t dash = line.find(" - ");
    if (dash == absl::string_view::npos) continue;
    const std::vector<absl::string_view> before = Words(line.substr(0, dash));
    const std::vector<absl::string_view> after = Words(line.substr(dash + 3));
    if (before.size() < 5 || after.size() < 3) continue;
    const bool matches =
        v2 ? after[0] == "cgroup2" : after[0] == "cgroup" && HasToken(after[2], controller);
    if (!matches) continue;
    root = std::string(before[3]);
    mount = std::string(before[4]);
    break;
  }
  if (mount.empty()) return {};
  // This process's cgroup in it: "<hierarchy id>:<controllers>:<path>" ("0::<path>" for v2).
  std::string own;
  for (absl::string_view line : absl::StrSplit(proc_self_cgroup, '\n')) {
    const std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (parts.size() != 3) continue;
    const bool matches = v2 ? parts[0] == "0" && parts[1].empty() : HasToken(parts[1], controller);
    if (!matches) continue;
    own = std::string(parts[2]);
    break;
  }
  // The mount shows the hierarchy from `root` down (a container sees its own part only);
  // a cgroup outside of it can only be located at the mount itself.
  std::string relative;
  if (root == "/") {
    relative = own;
  } else if (own == root || absl::StartsWith(own, root + "/")) {
    relative = own.substr(root.size());
  }
  if (relative.find("..") != std::string::npos) relative.clear();
  const fs::path top = fs::path(mount).lexically_normal();
  fs::path folder = (top / fs::path(relative).relative_path()).lexically_normal();
  if (folder.filename().empty()) folder = folder.parent_path();  // a trailing "/"
  std::vector<fs::path> folders{folder};
  while (folder != top && folder.has_relative_path() && folder != folder.parent_path()) {
    folder = folder.parent_path();
    folders.push_back(folder);
  }
  return folders;
}

// ------------------------------------------------------------------ probes

namespace {

// Whichever quota is lowest in the agent's cgroups (v2 and v1 cpu), nullopt for none.
std::optional<double> CgroupCpuQuota(absl::string_view mountinfo, absl::string_view own) {
  std::optional<double> lowest;
  auto lower = [&](std::optional<double> quota) {
    if (quota && (!lowest || *quota < *lowest)) lowest = quota;
  };
  for (const fs::path& folder : CgroupFolders(mountinfo, own, "")) {
    lower(CpuQuotaFromCpuMax(common::ReadFileOrEmpty(folder / "cpu.max")));
  }
  for (const fs::path& folder : CgroupFolders(mountinfo, own, "cpu")) {
    lower(CpuQuotaFromCfs(common::ReadFileOrEmpty(folder / "cpu.cfs_quota_us"),
                          common::ReadFileOrEmpty(folder / "cpu.cfs_period_us")));
  }
  return lowest;
}

std::optional<int64_t> CgroupMemoryLimit(absl::string_view mountinfo, absl::string_view own) {
  std::optional<int64_t> lowest;
  auto lower = [&](std::optional<int64_t> limit) {
    if (limit && (!lowest || *limit < *lowest)) lowest = limit;
  };
  for (const fs::path& folder : CgroupFolders(mountinfo, own, "")) {
    lower(MemoryLimitFrom(common::ReadFileOrEmpty(folder / "memory.max")));
  }
  for (const fs::path& folder : CgroupFolders(mountinfo, own, "memory")) {
    lower(MemoryLimitFrom(common::ReadFileOrEmpty(folder / "memory.limit_in_bytes")));
  }
  return lowest;
}

int AffinityCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return static_cast<int>(std::max<long>(::sysconf(_SC_NPROCESSORS_ONLN), 1));
}

}  // namespace

GpuProbe ProbeGpus(common::CommandRunner& commands, std::chrono::milliseconds timeout) {
  GpuProbe probe;
  common::HelperCommand nvidia_smi;
  nvidia_smi.argv = {"nvidia-smi", "--query-gpu=index,name,memory.total,uuid",
                     "--format=csv,noheader,nounits"};
  nvidia_smi.timeout = timeout;  // it can hang with its driver
  absl::StatusOr<common::HelperCommandResult> ran = commands.Run(nvidia_smi);
  if (absl::IsNotFound(ran.status())) return probe;  // no NVIDIA driver tools: no GPUs
  if (!ran.ok()) {
    probe.warning = absl::StrCat("cannot run nvidia-smi: ", ran.status().message());
  } else if (ran->timed_out) {
    probe.warning = absl::StrCat("nvidia-smi did not answer within ", timeout.count(), " ms");
  } else if (ran->exit_code != 0) {
    const std::string said = FirstLine(ran->errors.empty() ? ran->output : ran->errors);
    probe.warning = absl::StrCat("nvidia-smi failed (exit code ", ran->exit_code, ")",
                                 said.empty() ? "" : ": ", said);
  } else if (absl::StatusOr<std::vector<runyard::v1::Gpu>> gpus = ParseNvidiaSmiGpus(ran->output);
             !gpus.ok()) {
    probe.warning = std::string(gpus.status().message());
  } else {
    probe.gpus = std::move(*gpus);
  }
  return probe;
}

runyard::v1::Capabilities ProbeCapabilities(const std::map<std::string, std::string>& labels,
                                            common::CommandRunner& commands) {
  runyard::v1::Capabilities capabilities;
  const std::string mountinfo = common::ReadFileOrEmpty("/proc/self/mountinfo");
  const std::string own = common::ReadFileOrEmpty("/proc/self/cgroup");

  capabilities.set_cpus(UsableCpus(AffinityCpus(), CgroupCpuQuota(mountinfo, own)));

  absl::StatusOr<int64_t> total = ParseMemTotal(common::ReadFileOrEmpty("/proc/meminfo"));
  if (!total.ok()) Log()->warn("memory unknown: {}", std::string(total.status().message()));
  int64_t memory = total.value_or(0);
  if (std::optional<int64_t> limit = CgroupMemoryLimit(mountinfo, own);
      limit && (memory == 0 || *limit < memory)) {
    memory = *limit;
  }
  capabilities.set_memory_bytes(memory);

  GpuProbe gpus = ProbeGpus(commands);
  if (!gpus.warning.empty()) Log()->warn("reporting no GPUs: {}", gpus.warning);
  for (auto& gpu : gpus.gpus) *capabilities.add_gpus() = std::move(gpu);

  for (const auto& [name, value] : labels) (*capabilities.mutable_labels())[name] = value;
  return capabilities;
}

}  // namespace runyard::agent
