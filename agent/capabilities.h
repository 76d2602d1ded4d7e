#pragma once

// What this agent offers runs (CPUs, memory, GPUs, labels), reported when it registers.
// The parsers take fixed text so they can be tested anywhere; the probes read this machine.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/helper_command.h"
#include "runyard/v1/services.pb.h"

namespace runyard::agent {

// ---- parsers

// The output of `nvidia-smi --query-gpu=index,name,memory.total,uuid
// --format=csv,noheader,nounits`: one GPU a line, memory in MiB ("[N/A]" reads as 0). A line that
// is not four fields, or not a number where one belongs, is an error that quotes it.
absl::StatusOr<std::vector<runyard::v1::Gpu>> ParseNvidiaSmiGpus(absl::string_view csv);

// /proc/meminfo's MemTotal, in bytes.
absl::StatusOr<int64_t> ParseMemTotal(absl::string_view meminfo);

// The CPUs a cgroup CPU quota allows (1.5 for 150000 per 100000 µs); nullopt without a
// quota or for text that is not one. cgroup v2 cpu.max ("max 100000", "150000 100000"):
std::optional<double> CpuQuotaFromCpuMax(absl::string_view cpu_max);
// cgroup v1 cpu.cfs_quota_us (-1: none) and cpu.cfs_period_us:
std::optional<double> CpuQuotaFromCfs(absl::string_view quota_us, absl::string_view period_us);

// A cgroup memory limit in bytes: v2 memory.max ("max": none) or v1 memory.limit_in_bytes.
std::optional<int64_t> MemoryLimitFrom(absl::string_view text);

// The CPUs the agent may use: those it may run on, lowered to the quota rounded up (1.5
// CPUs of time can keep 2 busy part of the time), and at least 1.
int UsableCpus(int affinity_cpus, std::optional<double> quota);

// The cgroup folders whose limits apply to this process in one hierarchy: its own first,
// then each parent up to the hierarchy's mount point. `controller` names a cgroup v1
// controller ("cpu", "memory"); empty means the cgroup v2 hierarchy. From the text of
// /proc/self/mountinfo and /proc/self/cgroup; none when that hierarchy is not mounted.
std::vector<std::filesystem::path> CgroupFolders(absl::string_view mountinfo,
                                                 absl::string_view proc_self_cgroup,
                                                 absl::string_view controller);

// ---- probes

struct GpuProbe {
  std::vector<runyard::v1::Gpu> gpus;
  std::string warning;  // why nvidia-smi gave no answer; empty when it is simply not there
};
// nvidia-smi on PATH, run by `commands` and bounded by `timeout`. Missing: no GPUs, no warning.
GpuProbe ProbeGpus(common::CommandRunner& commands,
                   std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Everything together, with `labels` from the agent's config; a GPU probe's warning is
// logged as one line.
runyard::v1::Capabilities ProbeCapabilities(const std::map<std::string, std::string>& labels,
                                            common::CommandRunner& commands);

}  // namespace runyard::agent
