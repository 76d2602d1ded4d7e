#pragma once

#include <sys/types.h>

#include <vector>

namespace runyard::common {

// A child this process starts and waits for by its pid. The agent is a child subreaper:
// orphans of its runs become its children too, and sandbox/child_reaper.h reaps those.
// That reaper must never take the exit status of a child someone here waits for, so
// every spawn is announced before the fork and owned until its owner has reaped it.
class OwnedChild {
 public:
  OwnedChild();   // before the fork: unknown zombies are left alone from now on
  ~OwnedChild();  // after the owner reaped it (or the spawn failed)
  OwnedChild(const OwnedChild&) = delete;
  OwnedChild& operator=(const OwnedChild&) = delete;

  // Right after the fork, in the parent.
  void Own(pid_t pid);

 private:
  pid_t pid_ = -1;
};

// Of `zombies` (children of this process that have exited), those nobody owns; none while
// a spawn's pid is not known yet. They may be reaped without a lock held: a zombie's pid
// cannot be given to a new child until it is reaped.
std::vector<pid_t> UnownedChildren(const std::vector<pid_t>& zombies);

}  // namespace runyard::common
