#include "sandbox/cgroup_v1.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "sandbox/cgroup_files.h"

namespace runyard::sandbox {
namespace fs = std::filesystem;

CgroupV1::~CgroupV1() {
  for (int fd : procs_fds_) ::close(fd);
  for (const auto& dir : dirs_) RemoveWhenEmpty(dir);
}

absl::Status CgroupV1::Open() {
  for (const auto& dir : dirs_) {
    if (absl::Status made = MakeCgroup(dir); !made.ok()) return made;
    const int fd = ::open((dir / "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return absl::UnavailableError("cannot open " + (dir / "cgroup.procs").string());
    procs_fds_.push_back(fd);
  }
  return absl::OkStatus();
}

int CgroupV1::JoinFromChild() {
  for (int fd : procs_fds_) {
    if (int error = WritePid(fd); error != 0) return error;
  }
  return 0;
}

void CgroupV1::SignalAll(int signal, pid_t spared) {
  for (pid_t pid : ReadPids(dirs_.front() / "cgroup.procs")) {
    if (pid != spared) ::kill(pid, signal);
  }
}

void CgroupV1::KillAll() {
  // Freeze so nothing forks between reading the list and the kill, kill, thaw to let the
  // signals be delivered. An empty cgroup (the usual case once a run's script exited) is
  // left alone: nothing can join it by itself, and a freeze costs the whole machine (the
  // kernel patches its code on every CPU when the first freezer turns on and off).
  if (Empty()) return;
  const fs::path state = dirs_.front() / "freezer.state";
  WriteText(state, "FROZEN");
  for (int i = 0; i < 100; ++i) {
    std::ifstream in(state);
    std::string now;
    in >> now;
    if (now == "FROZEN") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  SignalAll(SIGKILL, 0);
  WriteText(state, "THAWED");
}

bool CgroupV1::Empty() { return ReadPids(dirs_.front() / "cgroup.procs").empty(); }

absl::Status CgroupV1::ApplyLimits(const Limits& limits) {
  auto set = [&](const char* controller, const char* file,
                 const std::string& value) -> absl::Status {
    std::optional<fs::path> dir = Dir(controller);
    if (dir && WriteText(*dir / file, value)) return absl::OkStatus();
    return absl::UnimplementedError(
        absl::StrCat("no writable cgroup v1 ", controller, " hierarchy for ", file));
  };
  if (limits.memory_bytes > 0) {
    RETURN_IF_ERROR(set("memory", "memory.limit_in_bytes", std::to_string(limits.memory_bytes)));
    // Memory + swap, so that swapping does not stretch the limit. Only there when the
    // kernel accounts swap (swapaccount=1); without it the memory limit above still holds.
    set("memory", "memory.memsw.limit_in_bytes", std::to_string(limits.memory_bytes)).IgnoreError();
  }
  if (limits.pids > 0) RETURN_IF_ERROR(set("pids", "pids.max", std::to_string(limits.pids)));
  if (limits.cpus > 0) {
    RETURN_IF_ERROR(set("cpu", "cpu.cfs_period_us", "100000"));
    RETURN_IF_ERROR(
        set("cpu", "cpu.cfs_quota_us", std::to_string(static_cast<int64_t>(limits.cpus * 100000))));
  }
  return absl::OkStatus();
}

Containment::Usage CgroupV1::ReadUsage() {
  Usage usage;
  if (std::optional<fs::path> cpuacct = Dir("cpuacct")) {
    usage.measured = true;
    usage.cpu_seconds = static_cast<double>(ReadNumber(*cpuacct / "cpuacct.usage")) / 1e9;
  }
  if (std::optional<fs::path> memory = Dir("memory")) {
    usage.measured = true;
    usage.peak_memory_bytes = ReadNumber(*memory / "memory.max_usage_in_bytes");
    usage.oom_killed = ReadKeyed(*memory / "memory.oom_control", "oom_kill") > 0;
  }
  if (std::optional<fs::path> pids = Dir("pids")) usage.peak_pids = ReadNumber(*pids / "pids.peak");
  return usage;
}

std::optional<fs::path> CgroupV1::Dir(const std::string& controller) const {
  for (size_t i = 0; i < dirs_.size() && i < controllers_.size(); ++i) {
    if (("," + controllers_[i] + ",").find("," + controller + ",") != std::string::npos)
      return dirs_[i];
  }
  return std::nullopt;
}

}  // namespace runyard::sandbox
