#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <optional>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "agent/config.h"
#include "agent/grpc_links.h"
#include "agent/observability.h"
#include "agent/pid_file.h"
#include "runtime/blob_cache.h"
#include "runtime/cancel_token.h"
#include "runtime/upload_salvage.h"
#include "sandbox/bubblewrap.h"
#include "sandbox/child_reaper.h"
#include "sandbox/containment.h"
#include "sandbox/run_journal.h"
#include "sandbox/run_as.h"
#include "runyard/v1/services.grpc.pb.h"

namespace runyard::agent {

// The daemon's heart: registers, then long-polls the server (which is also its
// heartbeat), runs each assigned run in a slot thread through runtime::Runner, and passes
// cancels down to the runs.
class Agent {
 public:
  explicit Agent(AgentConfig config);
  ~Agent();

  // Blocks until the agent stops (Shutdown, or a drain that ended) and every run has
  // ended. 0 on a clean stop.
  int Run();
  // Safe from any thread: take no new run, let the running ones finish (canceled after
  // drain_timeout_seconds), then stop.
  void Drain();
  // Safe from any thread: stop polling and stop the runs now.
  void Shutdown();

  // When the server last answered (steady clock); the epoch before the first answer.
  std::chrono::steady_clock::time_point LastServerContact() const { return last_contact_.load(); }
  int ActiveRuns();
  bool draining();

 private:
  struct Slot {
    runyard::v1::Lease lease;
    runtime::CancelToken cancel;
    std::thread thread;
    bool done = false;
  };

  bool SetUpRunIsolation();
  bool Register();
  bool PollOnce();
  void StartRun(const runyard::v1::Assignment& assignment);
  void RunInSlot(Slot* slot, runyard::v1::RunSpec spec);
  void JoinFinishedSlots();
  void WaitBeforeRetry(std::chrono::milliseconds delay);
  void ServerAnswered();
  void ReportStatusToSystemdLocked();  // STATUS= line: busy slots, draining
  // Feeds systemd's watchdog while the server answers (see packaging/systemd).
  void FeedWatchdogWhileServerAnswers();

  AgentConfig config_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<runyard::v1::Agents::Stub> stub_;
  GrpcRunReporter reporter_;
  GrpcBlobSource blob_source_;
  runtime::BlobCache cache_;
  runtime::EnvironmentCache environments_;
  std::unique_ptr<sandbox::ContainmentFactory> containment_;
  std::optional<sandbox::RunAs> run_as_;
  std::optional<sandbox::BubblewrapPolicy> sandbox_;
  std::unique_ptr<sandbox::OrphanReaper> orphan_reaper_;
  std::unique_ptr<sandbox::RunJournal> journal_;
  std::unique_ptr<runtime::UploadSalvage> salvage_;
  std::string agent_id_;
  int poll_wait_ms_ = 15000;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool shutting_down_ = false;
  bool draining_ = false;
  std::chrono::steady_clock::time_point drain_deadline_{};
  std::atomic<std::chrono::steady_clock::time_point> last_contact_{};
  std::thread watchdog_;
  std::unique_ptr<AgentPidFile> pid_file_;
  std::unique_ptr<AgentObservability> observability_;  // after what its gauges read
  grpc::ClientContext* poll_in_flight_ = nullptr;
  bool poll_can_be_interrupted_ = false;
  std::map<std::string, std::unique_ptr<Slot>> slots_;
};

}  // namespace runyard::agent
