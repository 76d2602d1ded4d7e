#include "sandbox/cgroup_v2.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "sandbox/cgroup_files.h"

namespace runyard::sandbox {
namespace fs = std::filesystem;

CgroupV2::~CgroupV2() {
  if (procs_fd_ >= 0) ::close(procs_fd_);
  RemoveWhenEmpty(dir_);
}

absl::Status CgroupV2::Open() {
  if (absl::Status made = MakeCgroup(dir_); !made.ok()) return made;
  procs_fd_ = ::open((dir_ / "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
  if (procs_fd_ < 0) return absl::UnavailableError("cannot open " + (dir_ / "cgroup.procs").string());
  return absl::OkStatus();
}

int CgroupV2::JoinFromChild() { return WritePid(procs_fd_); }

void CgroupV2::SignalAll(int signal, pid_t spared) {
  for (pid_t pid : ReadPids(dir_ / "cgroup.procs")) {
    if (pid != spared) ::kill(pid, signal);
  }
}

void CgroupV2::KillAll() {
  if (WriteText(dir_ / "cgroup.kill", "1")) return;  // Linux 5.14+: atomic
  // Older kernels: freeze, kill what is there, thaw (a frozen process cannot fork).
  WriteText(dir_ / "cgroup.freeze", "1");
  SignalAll(SIGKILL, 0);
  WriteText(dir_ / "cgroup.freeze", "0");
}

bool CgroupV2::Empty() { return ReadPids(dir_ / "cgroup.procs").empty(); }

absl::Status CgroupV2::ApplyLimits(const Limits& limits) {
  auto set = [&](const char* file, const std::string& value) -> absl::Status {
    if (WriteText(dir_ / file, value)) return absl::OkStatus();
    return absl::UnimplementedError(absl::StrCat("cannot set ", file, " (controller not delegated to the agent?)"));
  };
  if (limits.memory_bytes > 0) {
    if (absl::Status s = set("memory.max", std::to_string(limits.memory_bytes)); !s.ok()) return s;
    WriteText(dir_ / "memory.swap.max", "0");  // the limit means RAM, not RAM + swap
  }
  if (limits.pids > 0) {
    if (absl::Status s = set("pids.max", std::to_string(limits.pids)); !s.ok()) return s;
  }
  if (limits.cpus > 0) {
    const int64_t quota = static_cast<int64_t>(limits.cpus * 100000);
    if (absl::Status s = set("cpu.max", absl::StrCat(quota, " 100000")); !s.ok()) return s;
  }
  return absl::OkStatus();
}

Containment::Usage CgroupV2::ReadUsage() {
  Usage usage;
  usage.measured = fs::exists(dir_ / "cpu.stat");
  usage.cpu_seconds = static_cast<double>(ReadKeyed(dir_ / "cpu.stat", "usage_usec")) / 1e6;
  usage.peak_memory_bytes = ReadNumber(dir_ / "memory.peak");
  usage.peak_pids = ReadNumber(dir_ / "pids.peak");
  usage.oom_killed = ReadKeyed(dir_ / "memory.events", "oom_kill") > 0;
  return usage;
}

}  // namespace runyard::sandbox
