#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace runyard::sandbox {

// How a run's processes are held together, strongest first. A cgroup holds every process
// the run ever starts, whatever it does (setsid, double fork); a process group only those
// that stay in it, so that mode adds a sweep by an environment tag.
enum class ContainmentMode { kCgroupV2, kCgroupV1, kProcessGroup };
std::string ModeName(ContainmentMode mode);

// One run's processes. Created before the run's first process; joined by the child
// between fork and exec (JoinFromChild is async-signal-safe); destroyed after the run.
class Containment {
 public:
  virtual ~Containment() = default;
  virtual ContainmentMode mode() const = 0;
  // The run's cgroup folders (freezer first on cgroup v1); none for the process group.
  virtual std::vector<std::filesystem::path> CgroupDirectories() const = 0;

  // In the child, before exec: move this process in. Only async-signal-safe calls.
  virtual int JoinFromChild() = 0;
  // The run's first process, once started (its process group too).
  virtual void Started(pid_t leader) = 0;

  // Sends `signal` to every process of the run but `spared` (0: none). Bubblewrap's
  // monitor is spared a SIGTERM: its death SIGKILLs the sandbox, cutting the grace short.
  virtual void SignalAll(int signal, pid_t spared = 0) = 0;
  // SIGKILLs every process of the run, atomically where the mode can.
  virtual void KillAll() = 0;
  // True when no process of the run is left.
  virtual bool Empty() = 0;

  // Limits for the whole run (0: none), set before its first process starts. Fails with
  // Unimplemented where this mode or machine cannot enforce one.
  struct Limits {
    int64_t memory_bytes = 0;
    double cpus = 0;
    int64_t pids = 0;
  };
  virtual absl::Status ApplyLimits(const Limits& limits) = 0;

  // What the run used, read after it ended.
  struct Usage {
    bool measured = false;
    double cpu_seconds = 0;
    int64_t peak_memory_bytes = 0;
    int64_t peak_pids = 0;
    bool oom_killed = false;  // the kernel killed a process for the memory limit
  };
  virtual Usage ReadUsage() = 0;
};

// Picks the strongest mode this machine allows (or the one asked for) and creates the
// run's containment; `tag` marks the run's processes (RUNYARD_RUN_TAG) for the sweep.
class ContainmentFactory {
 public:
  enum class Preference { kAuto, kCgroupV2, kCgroupV1, kProcessGroup };

  // Probes once; logs the mode in force, and why a stronger one is not.
  static absl::StatusOr<std::unique_ptr<ContainmentFactory>> Create(Preference preference);

  ContainmentMode mode() const { return mode_; }
  absl::StatusOr<std::unique_ptr<Containment>> ForRun(const std::string& run_id, const std::string& tag);

  // The weakest level, no probing: the process group alone (no tag sweep).
  static absl::StatusOr<std::unique_ptr<Containment>> ProcessGroupOnly();

 private:
  ContainmentFactory(ContainmentMode mode, std::filesystem::path v2_parent,
                     std::vector<std::filesystem::path> v1_parents, std::vector<std::string> v1_controllers = {})
      : mode_(mode), v2_parent_(std::move(v2_parent)), v1_parents_(std::move(v1_parents)),
        v1_controllers_(std::move(v1_controllers)) {}

  ContainmentMode mode_;
  std::filesystem::path v2_parent_;                 // <cgroup2 mount>/<our cgroup>/runyard
  std::vector<std::filesystem::path> v1_parents_;   // <ctl mount>/<our cgroup>/runyard, freezer first
  std::vector<std::string> v1_controllers_;         // what each of those hierarchies holds
};

// The environment variable every process of a run carries, for the sweep.
inline constexpr const char* kRunTagVariable = "RUNYARD_RUN_TAG";

// Pids of processes whose environment holds RUNYARD_RUN_TAG=`tag` (needs to read
// /proc/<pid>/environ: same user or root).
std::vector<pid_t> FindTaggedProcesses(const std::string& tag);

}  // namespace runyard::sandbox
