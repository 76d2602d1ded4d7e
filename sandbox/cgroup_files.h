#pragma once

// Internal to sandbox: the files of a cgroup folder, read and written the same way by
// both cgroup versions and by the run journal.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace runyard::sandbox {

// Writes the caller's pid to an open cgroup.procs; 0 or errno. Async-signal-safe (no
// allocation), for the child between fork and exec.
int WritePid(int fd);

// The pids listed in a cgroup.procs (a process that has exited is no longer listed).
std::vector<pid_t> ReadPids(const std::filesystem::path& procs);

// One write of `text` to an existing file: cgroup files take a whole value per write.
bool WriteText(const std::filesystem::path& file, const std::string& text);

// The number a file holds ("memory.peak"), `fallback` when it is missing or not a number.
int64_t ReadNumber(const std::filesystem::path& file, int64_t fallback = 0);

// "key value" lines (cpu.stat, memory.events, memory.oom_control): the value of `key`, 0
// when it is not there.
int64_t ReadKeyed(const std::filesystem::path& file, const std::string& key);

// Creates a run's cgroup folder (one that is already there is reused).
absl::Status MakeCgroup(const std::filesystem::path& dir);

// Removes a cgroup once its last process is gone (rmdir fails while any is left), trying
// for about a second.
void RemoveWhenEmpty(const std::filesystem::path& dir);

// True when `path` lies on a cgroup filesystem (v1 or v2), by the filesystem's magic.
bool OnCgroupFilesystem(const std::filesystem::path& path);

}  // namespace runyard::sandbox
