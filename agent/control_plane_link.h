#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/observer.h"
#include "runtime/reporting_observer.h"
#include "runyard/v1/services.pb.h"

namespace runyard::agent {

// One long poll on its way to the control plane, which another thread may cut short (a
// drain, a shutdown, a slot that frees up).
class PendingPoll {
 public:
  virtual ~PendingPoll() = default;
  // Sends the poll and blocks until the control plane answers (it may hold the poll up to
  // the request's wait_ms) or the call fails; Cancelled once Cancel() was called.
  virtual absl::StatusOr<runyard::v1::PollResponse> Wait() = 0;
  // Safe from any thread, before, during or after Wait().
  virtual void Cancel() = 0;
};

// Everything the agent says to the control plane: registering, polling (its heartbeat,
// which also brings assignments, cancels and lost leases), the runs' statuses and files,
// and the snapshot blobs they fetch. gRPC in production (agent/grpc_links.h); a fake in
// the agent's unit tests (tests/fakes/fake_control_plane_link.h). Thread-safe.
class ControlPlaneLink {
 public:
  virtual ~ControlPlaneLink() = default;

  // INVALID_ARGUMENT: the control plane refuses this agent for good; others are retried.
  virtual absl::StatusOr<runyard::v1::RegisterResponse> Register(
      const runyard::v1::RegisterRequest& request) = 0;
  // NOT_FOUND from Wait(): the control plane does not know this agent (register again).
  virtual std::unique_ptr<PendingPoll> StartPoll(const runyard::v1::PollRequest& request) = 0;

  // Where every run of this agent reports, and where their snapshots' blobs come from.
  virtual runtime::RunReporter& reporter() = 0;
  virtual runtime::BlobSource& blobs() = 0;
  // Bytes of run files the control plane accepted so far (for /metrics).
  virtual int64_t uploaded_bytes() const = 0;
  // The run no longer reports through this link (its slot is done): what the link kept
  // for it, such as the run's own token, can go.
  virtual void RunEnded(const std::string& run_id) {}
};

}  // namespace runyard::agent
