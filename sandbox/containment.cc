#include "sandbox/containment.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <fstream>
#include <iterator>
#include <sstream>
#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "sandbox/process_group.h"

namespace runyard::sandbox {
namespace fs = std::filesystem;
namespace {

auto Log() { return common::Logger("sandbox"); }

// Writes the caller's pid to an open cgroup.procs: async-signal-safe (no allocation).
int WritePid(int fd) {
  char digits[24];
  int length = 0;
  for (pid_t pid = ::getpid(); pid > 0; pid /= 10) digits[length++] = static_cast<char>('0' + pid % 10);
  char text[24];
  for (int i = 0; i < length; ++i) text[i] = digits[length - 1 - i];
  return ::write(fd, text, static_cast<size_t>(length)) == length ? 0 : errno;
}

std::vector<pid_t> ReadPids(const fs::path& procs) {
  std::vector<pid_t> pids;
  std::ifstream in(procs);
  for (pid_t pid; in >> pid;) pids.push_back(pid);
  return pids;
}

bool WriteText(const fs::path& file, const std::string& text) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

int64_t ReadNumber(const fs::path& file, int64_t fallback = 0) {
  std::ifstream in(file);
  int64_t value = fallback;
  if (!(in >> value)) return fallback;
  return value;
}

// "key value" lines (cpu.stat, memory.events, memory.oom_control): the value of `key`.
int64_t ReadKeyed(const fs::path& file, const std::string& key) {
  std::ifstream in(file);
  for (std::string name; in >> name;) {
    int64_t value = 0;
    if (!(in >> value)) break;
    if (name == key) return value;
  }
  return 0;
}

// Removes a cgroup once its last process is gone (rmdir fails while any is left).
void RemoveWhenEmpty(const fs::path& dir) {
  for (int attempt = 0; attempt < 100 && ::rmdir(dir.c_str()) != 0 && errno == EBUSY; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// ------------------------------------------------------------------ cgroup v2
class CgroupV2 : public Containment {
 public:
  explicit CgroupV2(fs::path dir) : dir_(std::move(dir)) {}
  ~CgroupV2() override {
    if (procs_fd_ >= 0) ::close(procs_fd_);
    RemoveWhenEmpty(dir_);
  }
  absl::Status Open() {
    if (::mkdir(dir_.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::UnavailableError(absl::StrCat("cannot create cgroup ", dir_.string(), ": ", strerror(errno)));
    }
    procs_fd_ = ::open((dir_ / "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
    if (procs_fd_ < 0) return absl::UnavailableError("cannot open " + (dir_ / "cgroup.procs").string());
    return absl::OkStatus();
  }
  ContainmentMode mode() const override { return ContainmentMode::kCgroupV2; }
  int JoinFromChild() override { return WritePid(procs_fd_); }
  void Started(pid_t) override {}
  void SignalAll(int signal, pid_t spared) override {
    for (pid_t pid : ReadPids(dir_ / "cgroup.procs")) {
      if (pid != spared) ::kill(pid, signal);
    }
  }
  void KillAll() override {
    if (WriteText(dir_ / "cgroup.kill", "1")) return;  // Linux 5.14+: atomic
    // Older kernels: freeze, kill what is there, thaw (a frozen process cannot fork).
    WriteText(dir_ / "cgroup.freeze", "1");
    SignalAll(SIGKILL, 0);
    WriteText(dir_ / "cgroup.freeze", "0");
  }
  bool Empty() override { return ReadPids(dir_ / "cgroup.procs").empty(); }

  absl::Status ApplyLimits(const Limits& limits) override {
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

  Usage ReadUsage() override {
    Usage usage;
    usage.measured = fs::exists(dir_ / "cpu.stat");
    usage.cpu_seconds = static_cast<double>(ReadKeyed(dir_ / "cpu.stat", "usage_usec")) / 1e6;
    usage.peak_memory_bytes = ReadNumber(dir_ / "memory.peak");
    usage.peak_pids = ReadNumber(dir_ / "pids.peak");
    usage.oom_killed = ReadKeyed(dir_ / "memory.events", "oom_kill") > 0;
    return usage;
  }

 private:
  fs::path dir_;
  int procs_fd_ = -1;
};

// ------------------------------------------------------------------ cgroup v1
class CgroupV1 : public Containment {
 public:
  // dirs[0] is the freezer; the others are whatever hierarchies the machine has, each
  // with the controllers it holds ("cpu,cpuacct").
  CgroupV1(std::vector<fs::path> dirs, std::vector<std::string> controllers)
      : dirs_(std::move(dirs)), controllers_(std::move(controllers)) {}
  ~CgroupV1() override {
    for (int fd : procs_fds_) ::close(fd);
    for (const auto& dir : dirs_) RemoveWhenEmpty(dir);
  }
  absl::Status Open() {
    for (const auto& dir : dirs_) {
      if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
        return absl::UnavailableError(absl::StrCat("cannot create cgroup ", dir.string(), ": ", strerror(errno)));
      }
      const int fd = ::open((dir / "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) return absl::UnavailableError("cannot open " + (dir / "cgroup.procs").string());
      procs_fds_.push_back(fd);
    }
    return absl::OkStatus();
  }
  ContainmentMode mode() const override { return ContainmentMode::kCgroupV1; }
  int JoinFromChild() override {
    for (int fd : procs_fds_) {
      if (int error = WritePid(fd); error != 0) return error;
    }
    return 0;
  }
  void Started(pid_t) override {}
  void SignalAll(int signal, pid_t spared) override {
    for (pid_t pid : ReadPids(dirs_.front() / "cgroup.procs")) {
      if (pid != spared) ::kill(pid, signal);
    }
  }
  void KillAll() override {
    // Freeze so nothing forks between reading the list and the kill, kill, thaw to let
    // the signals be delivered.
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
  bool Empty() override { return ReadPids(dirs_.front() / "cgroup.procs").empty(); }

  absl::Status ApplyLimits(const Limits& limits) override {
    auto set = [&](const char* controller, const char* file, const std::string& value) -> absl::Status {
      std::optional<fs::path> dir = Dir(controller);
      if (dir && WriteText(*dir / file, value)) return absl::OkStatus();
      return absl::UnimplementedError(absl::StrCat("no writable cgroup v1 ", controller, " hierarchy for ", file));
    };
    if (limits.memory_bytes > 0) {
      if (absl::Status s = set("memory", "memory.limit_in_bytes", std::to_string(limits.memory_bytes)); !s.ok()) {
        return s;
      }
      set("memory", "memory.memsw.limit_in_bytes", std::to_string(limits.memory_bytes)).IgnoreError();
    }
    if (limits.pids > 0) {
      if (absl::Status s = set("pids", "pids.max", std::to_string(limits.pids)); !s.ok()) return s;
    }
    if (limits.cpus > 0) {
      if (absl::Status s = set("cpu", "cpu.cfs_period_us", "100000"); !s.ok()) return s;
      if (absl::Status s = set("cpu", "cpu.cfs_quota_us", std::to_string(static_cast<int64_t>(limits.cpus * 100000)));
          !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }

  Usage ReadUsage() override {
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

 private:
  // This run's folder in the hierarchy holding `controller` (the mount's name says it).
  std::optional<fs::path> Dir(const std::string& controller) const {
    for (size_t i = 0; i < dirs_.size(); ++i) {
      if (("," + controllers_[i] + ",").find("," + controller + ",") != std::string::npos) return dirs_[i];
    }
    return std::nullopt;
  }

  std::vector<fs::path> dirs_;
  std::vector<std::string> controllers_;
  std::vector<int> procs_fds_;
};

// ------------------------------------------------------------------ process group
class ProcessGroup : public Containment {
 public:
  explicit ProcessGroup(std::string tag) : tag_(std::move(tag)) {}
  ContainmentMode mode() const override { return ContainmentMode::kProcessGroup; }
  int JoinFromChild() override { return 0; }  // the new session is the group
  void Started(pid_t leader) override { pgid_ = leader; }
  void SignalAll(int signal, pid_t spared) override {
    // The whole group at once, unless one of its members is to be spared.
    if (spared == 0 || tag_.empty()) SignalGroup(pgid_, signal);
    // Processes that left the group (setsid) still carry the run's tag.
    if (!tag_.empty()) {
      for (pid_t pid : FindTaggedProcesses(tag_)) {
        if (pid != spared) ::kill(pid, signal);
      }
    }
  }
  void KillAll() override { SignalAll(SIGKILL, 0); }
  bool Empty() override { return !GroupExists(pgid_) && (tag_.empty() || FindTaggedProcesses(tag_).empty()); }
  absl::Status ApplyLimits(const Limits& limits) override {
    if (limits.memory_bytes > 0 || limits.cpus > 0 || limits.pids > 0) {
      return absl::UnimplementedError("limits need cgroups; this node contains runs by process group only");
    }
    return absl::OkStatus();
  }
  Usage ReadUsage() override { return {}; }

 private:
  std::string tag_;
  pid_t pgid_ = -1;
};

// The cgroup2 mount point and this process's cgroup in it.
std::optional<fs::path> OwnCgroupV2() {
  std::ifstream mountinfo("/proc/self/mountinfo");
  std::string mount;
  for (std::string line; std::getline(mountinfo, line);) {
    const size_t dash = line.find(" - ");
    if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
    std::istringstream fields(line);
    std::string id, parent, device, root;
    fields >> id >> parent >> device >> root >> mount;
    break;
  }
  if (mount.empty()) return std::nullopt;
  std::ifstream self("/proc/self/cgroup");
  for (std::string line; std::getline(self, line);) {
    if (line.rfind("0::", 0) == 0) return fs::path(mount) / line.substr(4);
  }
  return std::nullopt;
}

// This process's cgroup ("/a/b") in the v1 hierarchy holding `controller`, and all the
// controllers of that hierarchy ("cpu,cpuacct").
std::optional<std::pair<std::string, std::string>> OwnCgroupV1(const std::string& controller) {
  std::ifstream self("/proc/self/cgroup");
  for (std::string line; std::getline(self, line);) {
    const size_t first = line.find(':');
    const size_t second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    if (("," + controllers + ",").find("," + controller + ",") != std::string::npos) {
      return std::make_pair(line.substr(second + 1), controllers);
    }
  }
  return std::nullopt;
}

// Mount points of cgroup v1 hierarchies holding `controller`.
std::optional<fs::path> V1Mount(const std::string& controller) {
  std::ifstream mountinfo("/proc/self/mountinfo");
  for (std::string line; std::getline(mountinfo, line);) {
    const size_t dash = line.find(" - ");
    if (dash == std::string::npos || line.compare(dash + 3, 7, "cgroup ") != 0) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string type, source, options;
    tail >> type >> source >> options;
    if (("," + options + ",").find("," + controller + ",") == std::string::npos) continue;
    std::istringstream fields(line);
    std::string id, parent, device, root, mount;
    fields >> id >> parent >> device >> root >> mount;
    return fs::path(mount);
  }
  return std::nullopt;
}

// Makes memory, pids (and cpu) available to the run cgroups below <own>/runyard. cgroup v2
// allows controllers only in cgroups without processes of their own, so an agent that
// sits in its service's cgroup (systemd Delegate=yes) first moves into <own>/agent.
bool EnableV2Controllers(const fs::path& own) {
  std::ifstream available_in(own / "cgroup.controllers");
  std::string available((std::istreambuf_iterator<char>(available_in)), std::istreambuf_iterator<char>());
  if (available.find("memory") == std::string::npos || available.find("pids") == std::string::npos) return false;
  const std::vector<pid_t> here = ReadPids(own / "cgroup.procs");
  if (std::find(here.begin(), here.end(), ::getpid()) != here.end()) {
    std::error_code ec;
    fs::create_directories(own / "agent", ec);
    if (!WriteText(own / "agent" / "cgroup.procs", std::to_string(::getpid()))) return false;
  }
  for (const fs::path& level : {own, own / "runyard"}) {
    for (const char* controller : {"+memory", "+pids", "+cpu"}) WriteText(level / "cgroup.subtree_control", controller);
  }
  std::ifstream enabled_in(own / "runyard" / "cgroup.subtree_control");
  std::string enabled((std::istreambuf_iterator<char>(enabled_in)), std::istreambuf_iterator<char>());
  return enabled.find("memory") != std::string::npos && enabled.find("pids") != std::string::npos;
}

bool MakeParent(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  return !ec && ::access((dir).c_str(), W_OK) == 0;
}

}  // namespace

std::string ModeName(ContainmentMode mode) {
  switch (mode) {
    case ContainmentMode::kCgroupV2: return "cgroup v2";
    case ContainmentMode::kCgroupV1: return "cgroup v1";
    default: return "process group";
  }
}

std::vector<pid_t> FindTaggedProcesses(const std::string& tag) {
  const std::string needle = std::string(kRunTagVariable) + "=" + tag;
  std::vector<pid_t> pids;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return pids;
  while (dirent* entry = ::readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
    if (pid <= 0 || pid == ::getpid()) continue;
    std::ifstream environ(absl::StrCat("/proc/", pid, "/environ"), std::ios::binary);
    std::string variable;
    while (std::getline(environ, variable, '\0')) {
      if (variable == needle) {
        pids.push_back(pid);
        break;
      }
    }
  }
  ::closedir(proc);
  return pids;
}

absl::StatusOr<std::unique_ptr<ContainmentFactory>> ContainmentFactory::Create(Preference preference) {
  std::vector<std::string> why_not;
  if (preference == Preference::kProcessGroup) {
    Log()->warn("runs are contained by process group only (asked for): a process that leaves the group is "
                "found by its RUNYARD_RUN_TAG");
    return std::unique_ptr<ContainmentFactory>(new ContainmentFactory(ContainmentMode::kProcessGroup, {}, {}));
  }
  std::optional<fs::path> own = OwnCgroupV2();
  const bool v2_writable = own && MakeParent(*own / "runyard");
  const bool v2_controllers = v2_writable && EnableV2Controllers(*own);
  if (v2_writable && (preference == Preference::kCgroupV2 || (preference == Preference::kAuto && v2_controllers))) {
    Log()->info("runs are contained in cgroup v2 under {}{}", (*own / "runyard").string(),
                v2_controllers ? "" : " (memory/pids controllers not delegated: no limits, no accounting)");
    return std::unique_ptr<ContainmentFactory>(new ContainmentFactory(ContainmentMode::kCgroupV2, *own / "runyard", {}));
  }
  why_not.push_back(!own ? "no cgroup v2 mount"
                         : !v2_writable ? "cgroup v2 is not writable here"
                                        : "cgroup v2 has no memory/pids controllers for the agent");
  if (preference == Preference::kCgroupV2) return absl::UnavailableError(why_not.back());
  if (preference == Preference::kAuto || preference == Preference::kCgroupV1) {
    std::vector<fs::path> parents;  // freezer first
    std::vector<std::string> held;   // the controllers of each parent's hierarchy
    for (const char* controller : {"freezer", "pids", "memory", "cpu", "cpuacct"}) {
      std::optional<fs::path> mount = V1Mount(controller);
      std::optional<std::pair<std::string, std::string>> own = OwnCgroupV1(controller);
      if (!mount || !own) continue;
      if (std::find(held.begin(), held.end(), own->second) != held.end()) continue;  // co-mounted
      // Below the agent's own cgroup of that hierarchy, so the agent's limits and its
      // service's stop reach its runs; the hierarchy's root only where that is not writable.
      const fs::path nested = *mount / own->first.substr(1) / "runyard";
      const fs::path fallback = *mount / "runyard";
      if (MakeParent(nested)) {
        parents.push_back(nested);
      } else if (MakeParent(fallback)) {
        parents.push_back(fallback);
      } else {
        continue;
      }
      held.push_back(own->second);
    }
    if (!held.empty() && ("," + held.front() + ",").find(",freezer,") != std::string::npos) {
      Log()->info("runs are contained in cgroup v1 ({}) under {}", absl::StrJoin(held, "; "),
                  parents.front().string());
      return std::unique_ptr<ContainmentFactory>(
          new ContainmentFactory(ContainmentMode::kCgroupV1, {}, parents, held));
    }
    why_not.push_back("no writable cgroup v1 freezer");
    if (preference == Preference::kCgroupV1) return absl::UnavailableError(why_not.back());
  }
  if (preference == Preference::kAuto && v2_writable) {
    Log()->info("runs are contained in cgroup v2 under {} (no controllers: no limits, no accounting)",
                (*own / "runyard").string());
    return std::unique_ptr<ContainmentFactory>(new ContainmentFactory(ContainmentMode::kCgroupV2, *own / "runyard", {}));
  }
  Log()->warn("runs are contained by process group only ({}): a process that leaves the group is "
              "found by its RUNYARD_RUN_TAG",
              why_not.empty() ? "asked for" : absl::StrJoin(why_not, "; "));
  return std::unique_ptr<ContainmentFactory>(new ContainmentFactory(ContainmentMode::kProcessGroup, {}, {}));
}

absl::StatusOr<std::unique_ptr<Containment>> ContainmentFactory::ProcessGroupOnly() {
  return std::unique_ptr<Containment>(std::make_unique<ProcessGroup>(""));
}

absl::StatusOr<std::unique_ptr<Containment>> ContainmentFactory::ForRun(const std::string& run_id,
                                                                       const std::string& tag) {
  switch (mode_) {
    case ContainmentMode::kCgroupV2: {
      auto cgroup = std::make_unique<CgroupV2>(v2_parent_ / run_id);
      if (absl::Status ok = cgroup->Open(); !ok.ok()) return ok;
      return std::unique_ptr<Containment>(std::move(cgroup));
    }
    case ContainmentMode::kCgroupV1: {
      std::vector<fs::path> dirs;
      for (const auto& parent : v1_parents_) dirs.push_back(parent / run_id);
      auto cgroup = std::make_unique<CgroupV1>(std::move(dirs), v1_controllers_);
      if (absl::Status ok = cgroup->Open(); !ok.ok()) return ok;
      return std::unique_ptr<Containment>(std::move(cgroup));
    }
    default:
      return std::unique_ptr<Containment>(std::make_unique<ProcessGroup>(tag));
  }
}

}  // namespace runyard::sandbox
