#include "sandbox/containment.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"

// The modes live in cgroup_v2.cc, cgroup_v1.cc and process_group_containment.cc; the
// choice between them in containment_choice.cc and containment_factory.cc.

namespace runyard::sandbox {

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

}  // namespace runyard::sandbox
