#include "sandbox/run_as.h"

#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_cat.h"

namespace runyard::sandbox {

absl::StatusOr<RunAs> LookUpUser(const std::string& name) {
  std::vector<char> buffer(16384);
  struct passwd entry {};
  struct passwd* found = nullptr;
  char* end = nullptr;
  const long id = std::strtol(name.c_str(), &end, 10);
  const int rc = (end != name.c_str() && *end == '\0')
                     ? ::getpwuid_r(static_cast<uid_t>(id), &entry, buffer.data(), buffer.size(), &found)
                     : ::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (rc != 0 || found == nullptr) {
    return absl::NotFoundError(absl::StrCat("run_as_user '", name, "' does not exist on this machine"));
  }
  return RunAs{entry.pw_uid, entry.pw_gid, entry.pw_name, entry.pw_dir};
}

int ChildRestrictions::Apply() const {
  if (private_tmp) {
    // Our own mount namespace, mounts not propagated back, a fresh /tmp. (The agent turns
    // this off when its work dir is under /tmp, which the fresh one would hide.)
    if (::unshare(CLONE_NEWNS) != 0) return errno;
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return errno;
    if (::mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) return errno;
  }
  const struct rlimit no_core {0, 0};
  if (::setrlimit(RLIMIT_CORE, &no_core) != 0) return errno;
  if (max_open_files > 0) {
    // Lower only: raising a hard limit needs CAP_SYS_RESOURCE, which a node may not give.
    struct rlimit files {};
    if (::getrlimit(RLIMIT_NOFILE, &files) != 0) return errno;
    const rlim_t wanted = static_cast<rlim_t>(max_open_files);
    if (files.rlim_max == RLIM_INFINITY || files.rlim_max > wanted) files.rlim_max = wanted;
    if (files.rlim_cur == RLIM_INFINITY || files.rlim_cur > files.rlim_max) files.rlim_cur = files.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &files) != 0) return errno;
  }
  if (run_as) {
    // Raw system calls: glibc's setuid() family changes every thread it knows of, and a
    // child started with CLONE_VM (runtime/spawn.h) would reach the agent's own threads.
    const gid_t groups[] = {run_as->gid};
    if (::syscall(SYS_setgroups, 1, groups) != 0) return errno;
    if (::syscall(SYS_setgid, run_as->gid) != 0) return errno;
    if (::syscall(SYS_setuid, run_as->uid) != 0) return errno;
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
  return 0;
}

}  // namespace runyard::sandbox
