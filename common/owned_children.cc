#include "common/owned_children.h"

#include <mutex>
#include <set>

namespace runyard::common {
namespace {

std::mutex& Mutex() {
  static std::mutex mutex;
  return mutex;
}
int spawns_without_pid = 0;  // guarded by Mutex()
std::set<pid_t>& Owned() {   // guarded by Mutex()
  static std::set<pid_t> owned;
  return owned;
}

}  // namespace

OwnedChild::OwnedChild() {
  std::lock_guard lock(Mutex());
  ++spawns_without_pid;
}

void OwnedChild::Own(pid_t pid) {
  std::lock_guard lock(Mutex());
  if (pid_ > 0 || pid <= 0) return;
  pid_ = pid;
  Owned().insert(pid);
  --spawns_without_pid;
}

OwnedChild::~OwnedChild() {
  std::lock_guard lock(Mutex());
  if (pid_ > 0) {
    Owned().erase(pid_);
  } else {
    --spawns_without_pid;
  }
}

std::vector<pid_t> UnownedChildren(const std::vector<pid_t>& zombies) {
  std::lock_guard lock(Mutex());
  std::vector<pid_t> unowned;
  if (spawns_without_pid > 0) return unowned;
  for (pid_t pid : zombies) {
    if (Owned().count(pid) == 0) unowned.push_back(pid);
  }
  return unowned;
}

}  // namespace runyard::common
