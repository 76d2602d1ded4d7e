#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/cancel_token.h"
#include "sandbox/containment.h"
#include "sandbox/run_as.h"
#include "sandbox/sandbox.h"

namespace runyard::runtime {

struct LaunchRequest {
  std::filesystem::path executable;  // absolute
  std::vector<std::string> arguments;
  std::filesystem::path working_dir;
  std::map<std::string, std::string> environment;  // the child's whole environment
  std::chrono::milliseconds max_duration{0};       // 0: no deadline
  // Set: stdout and stderr go straight to this file (created afresh) instead of a pipe, so
  // the script writes at local-file speed; `on_output` still gets every byte, as the
  // launcher follows the file. Past `max_output_bytes` (0: none) output is cut.
  std::filesystem::path output_file;
  int64_t max_output_bytes = 0;
  // Set (output-file mode): told where the file grew, (offset, length), instead of being
  // handed the bytes on `on_output`, for a consumer that reads them from the file later.
  std::function<void(int64_t offset, int64_t length)> on_output_range;
  std::chrono::milliseconds kill_grace{std::chrono::seconds(30)};
  // Holds every process of the run (cgroup, or process group + tag sweep). Without one,
  // the process group alone.
  sandbox::Containment* containment = nullptr;
  // User, private /tmp, rlimits, no_new_privs: applied in the child before exec.
  sandbox::ChildRestrictions restrictions;
  // What the process is started in (sandbox/sandbox.h); none: the host, as it is.
  const sandbox::Sandbox* sandbox = nullptr;
};

struct LaunchResult {
  bool started = false;
  std::string start_error;  // why the process could not be started
  bool exited = false;      // exited by itself with exit_code
  int exit_code = 0;
  int term_signal = 0;  // killed by this signal
  bool deadline_exceeded = false;
  bool canceled = false;
  // The sandbox could not be built: the script never ran, and the exit code is the
  // sandbox tool's, not the script's. What the tool said about it.
  std::string sandbox_error;
  int64_t output_dropped_bytes = 0;  // cut off past max_output_bytes
};

// Starts the process in a new session (and its containment), streams its stdout+stderr
// (merged, in order) to `on_output`, and waits. A deadline or a cancel sends SIGTERM to
// every process of the run, waits `kill_grace`, then SIGKILLs them all. When the main
// process is gone, whatever is left of the run is killed too, and the call returns only
// once nothing is left (or a bounded wait ran out): a finished run leaves nothing behind.
// `on_started` gets the pid (= process group id) right after the spawn.
// `on_event` gets one line for each thing the supervisor does (signals sent), for the
// run's system log.
LaunchResult LaunchAndWait(const LaunchRequest& request,
                           const std::function<void(std::string_view)>& on_output,
                           CancelToken& cancel, const std::function<void(pid_t)>& on_started = {},
                           const std::function<void(const std::string&)>& on_event = {});

}  // namespace runyard::runtime
