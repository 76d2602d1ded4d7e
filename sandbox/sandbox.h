#pragma once

// What a run's process is started in: the host as it is, or a sandbox built around the
// command (bubblewrap). One class per sandbox (host_sandbox.h, bubblewrap_sandbox.h); the
// launcher asks the run's Sandbox what to exec and, afterwards, whether the sandbox itself
// failed, and never knows which one it has. The containment (containment.h) is separate:
// it holds the processes, whatever they were started in.

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace runyard::sandbox {

// What a run asks to execute, before a sandbox wraps it.
struct Command {
  std::filesystem::path executable;  // absolute
  std::vector<std::string> arguments;
  std::filesystem::path working_dir;
};

// What is really exec'd for a Command: the command itself, or a sandbox tool around it.
struct ExecLine {
  std::filesystem::path executable;
  std::vector<std::string> arguments;
  // A descriptor the child gets under the number `inherit_as` (-1: none).
  int inherit_fd = -1;
  int inherit_as = -1;
};

// How the run's first process ended, as the launcher saw it.
struct ProcessEnd {
  bool exited = false;  // exited by itself with exit_code
  int exit_code = 0;
  int term_signal = 0;
  bool killed = false;  // stopped by a cancel or the deadline
};

// One start of a command in a sandbox. Lives from before the spawn until the run's last
// process is gone; whatever it opened for the start, it closes.
class SandboxedLaunch {
 public:
  virtual ~SandboxedLaunch() = default;

  // What the launcher spawns.
  virtual const ExecLine& exec() const = 0;
  // The child is spawned and holds its copy of ExecLine::inherit_fd: the parent's is closed.
  virtual void Spawned() = 0;
  // Which process a run-wide SIGTERM spares (0: none), given the run's first process.
  virtual pid_t SparedFromTerm(pid_t first_process) const = 0;
  // The run's output as the launcher reads it from a pipe (not called in output-file mode).
  virtual void SawOutput(std::string_view bytes) = 0;
  // After the run, once every process is gone: why the sandbox itself failed before the
  // command ran (empty: it ran, or the run was killed). `output_file`: where the run's
  // output went (empty in pipe mode).
  virtual std::string SetupError(const ProcessEnd& end,
                                 const std::filesystem::path& output_file) = 0;
};

// One run's sandbox, given by the agent's configuration and the run's folders.
class Sandbox {
 public:
  virtual ~Sandbox() = default;

  // "host", "bubblewrap": for the run's system log and its errors.
  virtual std::string_view name() const = 0;
  // One line for the run's system log on what the run may touch; empty: nothing to say.
  virtual std::string Description() const = 0;
  // True when the sandbox gives the run a /tmp of its own (no private /tmp needed then).
  virtual bool GivesPrivateTmp() const = 0;
  // Everything one start of `command` needs. Fails (the run never starts) when it cannot
  // be prepared.
  virtual absl::StatusOr<std::unique_ptr<SandboxedLaunch>> Prepare(
      const Command& command) const = 0;
};

}  // namespace runyard::sandbox
