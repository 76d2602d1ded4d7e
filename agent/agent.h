#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "agent/agent_credential.h"
#include "agent/config.h"
#include "agent/control_plane_link.h"
#include "agent/observability.h"
#include "agent/pid_file.h"
#include "agent/register_backoff.h"
#include "common/clock.h"
#include "common/helper_command.h"
#include "runtime/blob_cache.h"
#include "runtime/cancel_token.h"
#include "runtime/env_cache.h"
#include "runtime/upload_salvage.h"
#include "sandbox/bubblewrap.h"
#include "sandbox/child_reaper.h"
#include "sandbox/containment.h"
#include "sandbox/run_as.h"
#include "sandbox/run_journal.h"

namespace runyard::agent {

// What the agent works with besides its configuration. main.cc wires the real ones; the
// agent's unit tests a fake link, a FakeClock and a FakeCommandRunner.
struct AgentDependencies {
  ControlPlaneLink* link = nullptr;  // required; outlives the agent
  // Drain deadline, last server contact (watchdog, /healthz), uptime.
  common::Clock* clock = common::Clock::Real();
  // The agent's own probes (nvidia-smi) and the interpreter probe of managed environments.
  common::CommandRunner* commands = common::CommandRunner::Real();
  // Waits `delay` before a failed call to the server is tried again. Empty: a real wait,
  // cut short by Shutdown. Tests record the delays instead of waiting them out.
  std::function<void(std::chrono::milliseconds delay)> pause_before_retry;
  // What the agent presents (join token, then its own agent token, which it keeps). Null:
  // nothing is kept (tests whose fake link asks for no token).
  AgentCredential* credential = nullptr;
};

// The daemon's heart: registers, then long-polls the control plane (which is also its
// heartbeat), runs each assigned run in a slot thread through runtime::Runner, and passes
// cancels down to the runs.
class Agent {
 public:
  Agent(AgentConfig config, AgentDependencies dependencies);
  ~Agent();

  // Blocks until the agent stops (Shutdown, a drain that ended, or the server refusing its
  // credential) and every run has ended. 0 on a clean stop, 1 when refused.
  int Run();
  // Safe from any thread: take no new run, let the running ones finish (canceled after
  // drain_timeout_seconds), then stop.
  void Drain();
  // Safe from any thread: stop polling and stop the runs now.
  void Shutdown();

  // When the server last answered (the injected clock's steady time); the epoch before
  // the first answer.
  std::chrono::steady_clock::time_point LastServerContact() const { return last_contact_.load(); }
  int ActiveRuns();
  bool draining();

 private:
  struct Slot {
    runyard::v1::Lease lease;
    std::optional<runyard::v1::GangPlacement> gang;  // a node of a distributed run
    runtime::CancelToken cancel;
    std::thread thread;
    bool done = false;  // guarded by Agent::mutex_
  };

  bool stopping();  // shutting down or draining
  bool SetUpRunIsolation();
  bool Register();
  // Keeps the agent token a registration brought (once it differs from what is presented).
  void AdoptAgentToken(const std::string& agent_token);
  // True (after a critical line) when `status` says the server will not take our credential.
  bool RefusedCredential(const absl::Status& status, const char* call);
  runyard::v1::RegisterRequest RegistrationRequest(
      const runyard::v1::Capabilities& capabilities) const;
  bool PollOnce();
  // Under mutex_: the poll to send now, or nothing when the agent should stop polling.
  std::optional<runyard::v1::PollRequest> NextPollLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void ApplyPollResponseLocked(const runyard::v1::PollResponse& response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void StartRunLocked(const runyard::v1::Assignment& assignment)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void RunInSlot(Slot* slot, runyard::v1::RunSpec spec);
  void JoinFinishedSlots();
  void WaitForRunsToEnd();
  void PauseBeforeRetry(std::chrono::milliseconds delay);
  void ServerAnswered();
  // STATUS= for systemd: busy slots, draining.
  void ReportStatusToSystemdLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Feeds systemd's watchdog while the server answers (see packaging/systemd).
  void FeedWatchdogWhileServerAnswers();

  AgentConfig config_;
  AgentDependencies dependencies_;
  ControlPlaneLink& link_;
  common::Clock& clock_;
  runtime::BlobCache cache_;
  runtime::EnvironmentCache environments_;
  std::unique_ptr<sandbox::ContainmentFactory> containment_;
  std::optional<sandbox::RunAs> run_as_;
  std::optional<sandbox::BubblewrapPolicy> sandbox_;
  std::unique_ptr<sandbox::OrphanReaper> orphan_reaper_;
  std::unique_ptr<sandbox::RunJournal> journal_;
  std::unique_ptr<runtime::UploadSalvage> salvage_;
  // Written by Register and read by PollOnce, both on the thread of Run().
  std::string agent_id_;
  int poll_wait_ms_ = 15000;
  bool refused_ = false;  // the server refused the credential: stop, exit non-zero

  std::mutex mutex_;
  std::condition_variable wake_;
  bool shutting_down_ ABSL_GUARDED_BY(mutex_) = false;
  bool draining_ ABSL_GUARDED_BY(mutex_) = false;
  std::chrono::steady_clock::time_point drain_deadline_ ABSL_GUARDED_BY(mutex_){};
  std::atomic<std::chrono::steady_clock::time_point> last_contact_{};
  std::thread watchdog_;
  std::unique_ptr<AgentPidFile> pid_file_;
  std::unique_ptr<AgentObservability> observability_;  // after what its gauges read
  PendingPoll* poll_in_flight_ ABSL_GUARDED_BY(mutex_) = nullptr;
  bool poll_can_be_interrupted_ ABSL_GUARDED_BY(mutex_) = false;
  std::map<std::string, std::unique_ptr<Slot>> slots_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace runyard::agent
