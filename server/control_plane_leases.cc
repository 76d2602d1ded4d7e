// ControlPlane's leases: requeue, IfLeaseUnchanged, lost runs, and the reaper of silent agents.
#include <set>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "common/status_names.h"
#include "server/control_plane.h"
#include "server/control_plane_internal.h"

namespace runyard::server {
namespace {

auto Log() { return common::Logger("server"); }

}  // namespace

absl::StatusOr<bool> ControlPlane::IfLeaseUnchanged(
    const LeaseRecord& seen, const std::function<absl::Status(Store& txn)>& change) {
  bool unchanged = false;
  RETURN_IF_ERROR(store_->InTransaction([&](Store& txn) -> absl::Status {
    ASSIGN_OR_RETURN(const LeaseRecord current, txn.GetLease(seen.run_id));
    unchanged = current.lease_id == seen.lease_id && current.status == seen.status &&
                current.expiry_ms == seen.expiry_ms;
    return unchanged ? change(txn) : absl::OkStatus();
  }));
  return unchanged;
}

absl::StatusOr<bool> ControlPlane::RequeueLocked(const LeaseRecord& lease) {
  return IfLeaseUnchanged(lease, [&](Store& txn) {
    LeaseRecord cleared = lease;
    cleared.agent_id.clear();
    cleared.lease_id.clear();  // the fencing token stays: the next lease gets a higher one
    return txn.SetLease(cleared);
  });
}

absl::Status ControlPlane::RecordLost(Store& store, const std::string& run_id,
                                      const std::string& message) {
  RETURN_IF_ERROR(
      store.SetOutcome(run_id, false, 0, ErrorOf(common::RunErrorCode::kAgentLost, message)));
  return Transition(store, run_id, runyard::v1::FAILED);
}

absl::Status ControlPlane::FailLostRun(const std::string& run_id, const std::string& message) {
  std::lock_guard lock(mutex_);
  bool ended = false;
  RETURN_IF_ERROR(store_->InTransaction([&](Store& txn) -> absl::Status {
    ASSIGN_OR_RETURN(const LeaseRecord lease, txn.GetLease(run_id));
    if (common::IsTerminal(lease.status)) return absl::OkStatus();
    ended = true;
    return RecordLost(txn, run_id, message);
  }));
  if (ended) {
    Log()->warn("run {}: Failed (AgentLost): {}", run_id, message);
    ChangedLocked();
  }
  return absl::OkStatus();
}

absl::Status ControlPlane::CutOffAgentLocked(const TokenRecord& token, const Identity& by) {
  ASSIGN_OR_RETURN(const std::vector<AgentRecord> agents, store_->ListAgents(token.pool));
  std::set<std::string> agent_ids;  // every registration under the token
  for (const AgentRecord& agent : agents) {
    if (agent.token_id == token.token_id) agent_ids.insert(agent.agent_id);
  }
  if (agent_ids.empty()) return absl::OkStatus();
  const std::string why = absl::StrCat("token ", token.token_id, " was revoked");
  for (const auto& [pool, waiters] : waiters_by_pool_) {
    for (Waiter* waiter : waiters) {
      if (!agent_ids.contains(waiter->agent_id)) continue;
      waiter->cut_off = why;
      waiter->free_slots = 0;  // no dispatch hands it anything from now on
    }
  }
  ASSIGN_OR_RETURN(const std::vector<LeaseRecord> leases, store_->ActiveLeases());
  ASSIGN_OR_RETURN(const std::vector<GangNodeRecord> nodes, store_->ActiveGangNodes());
  std::set<std::string> held;
  for (const LeaseRecord& lease : leases) {
    if (agent_ids.contains(lease.agent_id)) held.insert(lease.run_id);
  }
  // A distributed run with one node on a revoked agent ends whole: one fate for all nodes.
  for (const GangNodeRecord& node : nodes) {
    if (agent_ids.contains(node.node.agent_id())) held.insert(node.run_id);
  }
  const std::string message = absl::StrCat("agent ", token.pool, "/", token.agent_name,
                                           " was revoked by ", by.Actor());
  for (const std::string& run_id : held) {
    bool ended = false;
    RETURN_IF_ERROR(store_->InTransaction([&](Store& txn) -> absl::Status {
      ASSIGN_OR_RETURN(LeaseRecord lease, txn.GetLease(run_id));
      ended = !common::IsTerminal(lease.status);
      if (!ended) return absl::OkStatus();
      RETURN_IF_ERROR(RecordLost(txn, run_id, message));
      // No lease left: not even the uploads an AgentLost run's last holder may still send
      // (MayStillUpload) are taken, whatever run token they come with.
      lease.lease_id.clear();
      return txn.SetLease(lease);
    }));
    if (ended) Log()->warn("run {}: Failed (AgentLost): {}", run_id, message);
  }
  ChangedLocked();  // wakes the cut-off polls, and the other nodes' polls of ended gangs
  return absl::OkStatus();
}

void ControlPlane::PurgeExpiredRunTokensLocked(int64_t now) {
  constexpr int64_t kPurgeEveryMs = 60'000;
  if (now - run_tokens_purged_ms_ < kPurgeEveryMs) return;
  run_tokens_purged_ms_ = now;
  absl::StatusOr<int64_t> purged = store_->DeleteExpiredTokens(runyard::v1::TOKEN_KIND_RUN, now);
  if (!purged.ok()) {
    Log()->warn("cannot delete expired run tokens (next minute tries again): {}",
                purged.status().ToString());
  } else if (*purged > 0) {
    Log()->debug("deleted {} expired run token(s)", *purged);
  }
}

void ControlPlane::StartLeaseReaper() {
  reaper_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      changed_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
      if (stopping_) break;
      ReapExpiredLeasesLocked();
    }
  });
}

void ControlPlane::ReapExpiredLeasesNow() {
  std::lock_guard lock(mutex_);
  ReapExpiredLeasesLocked();
}

void ControlPlane::ReapExpiredLeasesLocked() {
  absl::StatusOr<std::vector<LeaseRecord>> leases = store_->ActiveLeases();
  if (!leases.ok()) {
    Log()->warn("lease reaper: cannot read the leases (next pass tries again): {}",
                leases.status().ToString());
    return;
  }
  const int64_t now = clock_->NowUnixMs();
  PurgeExpiredRunTokensLocked(now);
  bool changed = false;
  std::set<std::string> gang_runs;  // their nodes' leases count, not the run's
  if (!ReapGangsLocked(now, &gang_runs, &changed)) return;
  for (const LeaseRecord& lease : *leases) {
    if (lease.expiry_ms >= now || gang_runs.contains(lease.run_id)) continue;
    // Each change is made only if the lease is still as read: a report or poll that came
    // in meanwhile (or another control plane on the same store) wins.
    absl::StatusOr<bool> applied = false;
    std::string what;
    if (lease.status == runyard::v1::QUEUED) {
      // Handed out but never started: the agent went away before it could. Queue it again.
      applied = RequeueLocked(lease);
      what = absl::StrCat("agent ", lease.agent_id, " never started it; queued again");
    } else if (lease.status != runyard::v1::NOT_RESPONDING &&
               lease.status != runyard::v1::CANCEL_REQUESTED) {
      applied = IfLeaseUnchanged(lease, [&](Store& txn) {
        return Transition(txn, lease.run_id, runyard::v1::NOT_RESPONDING);
      });
      what = absl::StrCat("agent ", lease.agent_id, " stopped responding");
    } else if (lease.expiry_ms + options_.agent_lost_after.count() < now) {
      // A CancelRequested run stays so while its agent is silent (the cancel must still
      // reach it if it comes back); when the agent is gone for good, the run is lost.
      const std::string message =
          absl::StrCat("agent ", lease.agent_id, " stopped responding and did not come back");
      applied = IfLeaseUnchanged(
          lease, [&](Store& txn) { return RecordLost(txn, lease.run_id, message); });
      what = absl::StrCat("Failed (AgentLost): ", message);
    } else {
      continue;
    }
    if (!applied.ok()) {
      Log()->warn(
          "run {}: the lease reaper cannot record the silence of agent {} (next pass tries again): "
          "{}",
          lease.run_id, lease.agent_id, applied.status().ToString());
      continue;
    }
    if (!*applied) continue;
    Log()->warn("run {}: {}", lease.run_id, what);
    if (lease.status == runyard::v1::QUEUED) {
      // Unread, it waits for the next poll of its pool, which dispatches too.
      if (absl::StatusOr<runyard::v1::Run> run = store_->GetRun(lease.run_id); run.ok()) {
        DispatchLocked(run->target());
      }
    }
    changed = true;
  }
  // Runs whose retry time has come (and runs requeued above) go to the agents waiting now.
  for (const auto& [pool, waiters] : waiters_by_pool_) {
    if (!waiters.empty()) DispatchLocked(pool);
  }
  if (changed) ChangedLocked();
}

}  // namespace runyard::server
