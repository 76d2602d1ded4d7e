#include "agent/drain_command.h"

#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "agent/pid_file.h"

namespace runyard::agent {

int DrainCommand(const AgentConfig& config, bool wait) {
  absl::StatusOr<pid_t> pid = AgentPidFile::Holder(config.work_dir);
  if (!pid.ok()) {
    std::fprintf(stderr, "runyard-agent drain: %s\n", std::string(pid.status().message()).c_str());
    return 1;
  }
  if (::kill(*pid, SIGTERM) != 0) {
    std::fprintf(stderr, "runyard-agent drain: cannot signal pid %d: %s\n", *pid, strerror(errno));
    return 1;
  }
  std::printf("agent pid %d is draining: it takes no new run and exits once its runs end (at most %d s, "
              "then they are canceled); drain again to cancel them now\n",
              *pid, config.drain_timeout_seconds);
  if (wait) {
    AgentPidFile::WaitUntilReleased(config.work_dir);
    std::printf("agent pid %d has exited\n", *pid);
  }
  return 0;
}

}  // namespace runyard::agent
