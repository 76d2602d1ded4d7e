#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace runyard::runtime {

// What a run's first process is started with.
struct SpawnRequest {
  std::filesystem::path executable;  // run as given: no PATH search
  std::vector<std::string> arguments;  // argv[1...]
  std::vector<std::string> environment;  // NAME=value, the whole environment
  std::filesystem::path working_dir;
  int output_fd = -1;  // the child's stdout and stderr; stdin is /dev/null
  // A descriptor handed to the child under another number (bwrap's status pipe); every
  // other descriptor but stdio is closed before exec. -1: none.
  int inherit_fd = -1;
  int inherit_as = -1;
  // Runs in the child, in its new session, before exec: joining the run's cgroups,
  // dropping privileges. 0 or an errno. It runs on the agent's memory (see Spawn), so it
  // must be async-signal-safe, must not allocate, and must change credentials with raw
  // system calls, never glibc's setuid() family.
  std::function<int()> child_setup;
};

// Starts the process and returns its pid, or an error naming the step that failed before
// exec (the failed child is reaped).
//
// Why not fork(): the agent is a multi-threaded process with tens of MB mapped, and
// fork() write-protects all of it until the child execs; the agent's threads then take a
// copy-on-write fault (and a TLB shootdown on every CPU) for each page they touch. On a
// 2-core node that was a fifth of the agent's CPU while it ran tiny runs back to back.
// Like posix_spawn, the child here shares the agent's memory (CLONE_VM) on a stack of its
// own and the calling thread waits (CLONE_VFORK) until it has exec'd; posix_spawn itself
// cannot join cgroups or drop privileges in the child.
absl::StatusOr<pid_t> Spawn(const SpawnRequest& request);

}  // namespace runyard::runtime
