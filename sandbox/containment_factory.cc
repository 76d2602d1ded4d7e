// ContainmentFactory: probes what this machine offers, picks the mode (containment_choice.h)
// and creates each run's containment.

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "sandbox/cgroup_files.h"
#include "sandbox/cgroup_v1.h"
#include "sandbox/cgroup_v2.h"
#include "sandbox/containment.h"
#include "sandbox/containment_choice.h"
#include "sandbox/process_group_containment.h"

namespace runyard::sandbox {
namespace fs = std::filesystem;
namespace {

auto Log() { return common::Logger("sandbox"); }

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

// The mount point of the cgroup v1 hierarchy holding `controller`.
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
  return !ec && ::access(dir.c_str(), W_OK) == 0;
}

// The parents of run cgroups in each writable v1 hierarchy, one per hierarchy.
struct V1Parents {
  std::vector<fs::path> dirs;            // <ctl mount>/<our cgroup>/runyard, freezer first
  std::vector<std::string> controllers;  // what each one's hierarchy holds

  bool HasFreezer() const {
    return !controllers.empty() && ("," + controllers.front() + ",").find(",freezer,") != std::string::npos;
  }
};

V1Parents ProbeV1() {
  V1Parents found;
  for (const char* controller : {"freezer", "pids", "memory", "cpu", "cpuacct"}) {
    std::optional<fs::path> mount = V1Mount(controller);
    std::optional<std::pair<std::string, std::string>> own = OwnCgroupV1(controller);
    if (!mount || !own) continue;
    const auto& held = found.controllers;
    if (std::find(held.begin(), held.end(), own->second) != held.end()) continue;  // co-mounted
    // Below the agent's own cgroup of that hierarchy, so the agent's limits and its
    // service's stop reach its runs; the hierarchy's root only where that is not writable.
    const fs::path nested = *mount / own->first.substr(1) / "runyard";
    const fs::path fallback = *mount / "runyard";
    if (MakeParent(nested)) {
      found.dirs.push_back(nested);
    } else if (MakeParent(fallback)) {
      found.dirs.push_back(fallback);
    } else {
      continue;
    }
    found.controllers.push_back(own->second);
  }
  return found;
}

std::string PreferenceName(ContainmentFactory::Preference preference) {
  switch (preference) {
    case ContainmentFactory::Preference::kCgroupV2: return ModeName(ContainmentMode::kCgroupV2);
    case ContainmentFactory::Preference::kCgroupV1: return ModeName(ContainmentMode::kCgroupV1);
    case ContainmentFactory::Preference::kProcessGroup: return ModeName(ContainmentMode::kProcessGroup);
    default: return "auto";
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<ContainmentFactory>> ContainmentFactory::Create(Preference preference) {
  // Probing has effects (folders, maybe moving the agent): only what the choice can use.
  CgroupProbe probe;
  fs::path v2_parent;
  if (preference == Preference::kAuto || preference == Preference::kCgroupV2) {
    const std::optional<fs::path> own = OwnCgroupV2();
    probe.v2_mounted = own.has_value();
    probe.v2_writable = own && MakeParent(*own / "runyard");
    probe.v2_controllers = probe.v2_writable && EnableV2Controllers(*own);
    if (own) v2_parent = *own / "runyard";
  }
  V1Parents v1;
  CgroupProbe with_freezer = probe;
  with_freezer.v1_freezer_writable = true;
  if (ChooseContainmentMode(preference, with_freezer).mode == ContainmentMode::kCgroupV1) {
    v1 = ProbeV1();
    probe.v1_freezer_writable = v1.HasFreezer();
  }

  const ModeChoice choice = ChooseContainmentMode(preference, probe);
  if (!choice.mode) {
    return absl::UnavailableError(absl::StrCat(PreferenceName(preference), " asked for but unavailable: ", choice.why));
  }
  const std::string why = choice.why.empty() ? "" : " (" + choice.why + ")";
  switch (*choice.mode) {
    case ContainmentMode::kCgroupV2:
      Log()->info("runs are contained in cgroup v2 under {}{}", v2_parent.string(), why);
      return std::unique_ptr<ContainmentFactory>(new ContainmentFactory(ContainmentMode::kCgroupV2, v2_parent, {}));
    case ContainmentMode::kCgroupV1:
      Log()->info("runs are contained in cgroup v1 ({}) under {}{}", absl::StrJoin(v1.controllers, "; "),
                  v1.dirs.front().string(), why);
      return std::unique_ptr<ContainmentFactory>(
          new ContainmentFactory(ContainmentMode::kCgroupV1, {}, v1.dirs, v1.controllers));
    case ContainmentMode::kProcessGroup:
      break;
  }
  Log()->warn("runs are contained by process group only ({}): a process that leaves the group is found by its {}",
              choice.why, kRunTagVariable);
  return std::unique_ptr<ContainmentFactory>(new ContainmentFactory(ContainmentMode::kProcessGroup, {}, {}));
}

absl::StatusOr<std::unique_ptr<Containment>> ContainmentFactory::ProcessGroupOnly() {
  return std::unique_ptr<Containment>(std::make_unique<ProcessGroupContainment>(""));
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
      return std::unique_ptr<Containment>(std::make_unique<ProcessGroupContainment>(tag));
  }
}

}  // namespace runyard::sandbox
