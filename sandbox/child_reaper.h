#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"

namespace runyard::sandbox {

// Makes this process the child subreaper of everything it starts: a process of a run whose
// parent dies (a double-forked daemon) is reparented here instead of to init, so it stays
// where the agent can see and account for it. Returns false where the kernel refuses.
bool BecomeChildSubreaper();

// Pids of this process's children that have exited and wait to be reaped.
std::vector<pid_t> ZombieChildren();

// Reaps the zombie children nobody here waits for (see common/owned_children.h): orphans
// reparented to this subreaper. Returns how many were reaped.
int ReapOrphans();

// Reaps orphans in the background, every `period`, until destroyed.
class OrphanReaper {
 public:
  explicit OrphanReaper(std::chrono::milliseconds period = std::chrono::seconds(1));
  ~OrphanReaper();
  OrphanReaper(const OrphanReaper&) = delete;
  OrphanReaper& operator=(const OrphanReaper&) = delete;

  int reaped() const;  // so far

 private:
  void Loop();

  const std::chrono::milliseconds period_;
  mutable std::mutex mutex_;
  std::condition_variable stop_requested_;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  int reaped_ ABSL_GUARDED_BY(mutex_) = 0;
  std::thread thread_;
};

}  // namespace runyard::sandbox
