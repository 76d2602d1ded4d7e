// ControlPlane for agents: Register, Poll and dispatch, UpdateStatus, Append, Report, LeaseToSelf.
#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/logging.h"
#include "common/run_error_code.h"
#include "common/snapshot_manifest.h"
#include "common/status_macros.h"
#include "common/status_names.h"
#include "server/control_plane.h"
#include "server/control_plane_internal.h"

namespace runyard::server {
using runyard::v1::RunStatus;
namespace {

auto Log() { return common::Logger("server"); }

// Statuses an agent may report for a run it holds.
bool IsAgentReportable(RunStatus status) {
  switch (status) {
    case runyard::v1::PREPARING:
    case runyard::v1::STARTING:
    case runyard::v1::RUNNING:
    case runyard::v1::FINALIZING:
    case runyard::v1::COMPLETED:
    case runyard::v1::FAILED:
    case runyard::v1::CANCELED:
      return true;
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<runyard::v1::RegisterResponse> ControlPlane::Register(
    const runyard::v1::RegisterRequest& request, const Identity& who) {
  if (request.pool().empty()) return absl::InvalidArgumentError("register: pool is empty");
  if (request.pool() == "local") {
    return absl::InvalidArgumentError("register: pool name 'local' is reserved for local runs");
  }
  RETURN_IF_ERROR(CheckRegister(who, request));
  runyard::v1::RegisterResponse response;
  response.set_agent_id(common::NewAgentId());
  response.set_lease_seconds(static_cast<int32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(options_.lease_duration).count()));
  AgentRecord agent;
  agent.agent_id = response.agent_id();
  agent.name = request.name();
  agent.pool = request.pool();
  agent.slots = request.slots();
  agent.hostname = request.hostname();
  agent.version = request.version();
  agent.capabilities = request.capabilities();
  agent.address = request.address();
  agent.registered_ms = clock_->NowUnixMs();
  // A join token is exchanged for the agent's own token, bound to its pool and name; an
  // agent token registers the same agent again.
  std::optional<MintedToken> minted;
  if (!who.trusted && who.kind == runyard::v1::TOKEN_KIND_JOIN) {
    if (request.name().empty()) {
      return absl::InvalidArgumentError(
          "register: name is empty (an agent's token is bound to its pool and name)");
    }
    minted = MintToken(runyard::v1::TOKEN_KIND_AGENT,
                       absl::StrCat(request.pool(), "/", request.name()),
                       absl::StrCat("join:", who.token_id), /*expires_ms=*/0);
    minted->record.pool = request.pool();
    minted->record.agent_name = request.name();
    agent.token_id = minted->record.token_id;
    agent.identity = absl::StrCat("agent token ", agent.token_id, ", joined with join token ",
                                  who.token_id);
  } else if (!who.trusted && who.kind == runyard::v1::TOKEN_KIND_AGENT) {
    ASSIGN_OR_RETURN(const TokenRecord token, store_->GetToken(who.token_id));
    agent.token_id = who.token_id;
    agent.identity = absl::StrCat("agent token ", who.token_id);
    if (absl::StartsWith(token.created_by, "join:")) {
      absl::StrAppend(&agent.identity, ", joined with join token ", token.created_by.substr(5));
    }
  }
  RETURN_IF_ERROR(store_->InTransaction([&](Store& txn) -> absl::Status {
    if (minted) RETURN_IF_ERROR(txn.InsertToken(minted->record));
    RETURN_IF_ERROR(txn.UpsertAgent(agent));
    return txn.AppendAudit(AuditOf(
        who, "register", agent.agent_id,
        absl::StrCat("agent ", agent.pool, "/", agent.name,
                     minted ? ", issued agent token " + agent.token_id : std::string())));
  }));
  if (minted) response.set_agent_token(std::move(minted->token));
  const runyard::v1::Capabilities& offered = request.capabilities();
  Log()->info(
      "agent {} ({}) registered for pool '{}' with {} slot(s), {} CPU(s), {} memory, {} GPU(s), "
      "address {}",
      response.agent_id(), request.name(), request.pool(), request.slots(), offered.cpus(),
      common::HumanBytes(offered.memory_bytes()), offered.gpus_size(),
      request.address().empty() ? "unknown" : request.address());
  return response;
}

absl::StatusOr<runyard::v1::Lease> ControlPlane::AssignLocked(const std::string& run_id,
                                                              const std::string& agent_id,
                                                              std::string* run_token,
                                                              int64_t max_run_seconds) {
  LeaseRecord lease;
  lease.run_id = run_id;
  lease.agent_id = agent_id;
  lease.lease_id = common::NewLeaseId();
  lease.expiry_ms = clock_->NowUnixMs() + options_.lease_duration.count();
  std::optional<MintedToken> minted;
  if (run_token != nullptr) minted = MintRunToken(run_id, agent_id, max_run_seconds);
  // The token is read and raised in one transaction, so that every hand-out gets a higher
  // one than the last, whoever else writes to the store.
  RETURN_IF_ERROR(store_->InTransaction([&](Store& txn) -> absl::Status {
    ASSIGN_OR_RETURN(const LeaseRecord previous, txn.GetLease(run_id));
    lease.fencing_token = previous.fencing_token + 1;
    RETURN_IF_ERROR(txn.SetLease(lease));
    return minted ? txn.InsertToken(minted->record) : absl::OkStatus();
  }));
  if (minted) *run_token = std::move(minted->token);
  runyard::v1::Lease out;
  out.set_run_id(run_id);
  out.set_lease_id(lease.lease_id);
  out.set_fencing_token(lease.fencing_token);
  return out;
}

// Hands queued runs of `pool` to waiting agents, oldest run first, each to the least busy
// agent. A distributed run goes to as many distinct agents at once, or waits: the first
// one in the queue reserves the agents that are free (they get nothing else meanwhile),
// and later runs take only agents nobody reserved. A store error leaves the runs queued:
// the next poll, submit or reaper pass of the pool dispatches again.
void ControlPlane::DispatchLocked(const std::string& pool) {
  auto found = waiters_by_pool_.find(pool);
  if (found == waiters_by_pool_.end()) return;
  const std::vector<Waiter*>& waiters = found->second;
  for (Waiter* waiter : waiters) waiter->reserved_for.clear();
  // Free agents nobody reserved, the least busy first (each agent once).
  auto available = [&] {
    std::vector<Waiter*> free;
    for (Waiter* waiter : waiters) {
      if (waiter->FreeSlots() <= 0 || !waiter->reserved_for.empty()) continue;
      if (std::any_of(free.begin(), free.end(),
                      [&](Waiter* other) { return other->agent_id == waiter->agent_id; }))
        continue;
      free.push_back(waiter);
    }
    std::stable_sort(free.begin(), free.end(),
                     [](Waiter* a, Waiter* b) { return a->FreeSlots() > b->FreeSlots(); });
    return free;
  };
  bool handed_out = false;
  bool again = true;
  while (again) {
    again = false;
    if (available().empty()) break;
    // Enough of the queue to find runs behind a distributed one that waits.
    constexpr int kLookahead = 64;
    absl::StatusOr<std::vector<std::string>> queued =
        store_->ReadyRuns(pool, clock_->NowUnixMs(), kLookahead);
    if (!queued.ok()) {
      Log()->warn("pool '{}': cannot read its queue: {}", pool, queued.status().ToString());
      break;
    }
    bool head_waits = false;  // a distributed run ahead reserved what was free
    for (const std::string& run_id : *queued) {
      const std::vector<Waiter*> free = available();
      if (free.empty()) break;
      absl::StatusOr<RunShape> shape = ShapeOfLocked(run_id);
      if (!shape.ok()) {
        Log()->warn("run {}: cannot be read to dispatch: {}", run_id, shape.status().ToString());
        continue;
      }
      if (!shape->gang) {
        std::string run_token;
        if (absl::Status assigned = AssignLocked(run_id, free.front()->agent_id, &run_token,
                                                 shape->max_run_seconds)
                                        .status();
            !assigned.ok()) {
          Log()->warn("run {}: cannot lease it to agent {}: {}", run_id, free.front()->agent_id,
                      assigned.ToString());
          return;
        }
        shapes_.erase(run_id);
        free.front()->assigned.push_back(run_id);
        free.front()->run_tokens[run_id] = std::move(run_token);
        handed_out = again = true;
        break;
      }
      std::string waits_for;
      if (static_cast<int>(free.size()) >= shape->nodes) {
        const std::vector<Waiter*> nodes(free.begin(), free.begin() + shape->nodes);
        absl::Status placed = PlaceGangLocked(pool, run_id, *shape, nodes);
        if (placed.ok()) {
          handed_out = again = true;
          break;
        }
        if (!absl::IsResourceExhausted(placed)) {
          Log()->warn("run {}: cannot hand it out to {} node(s): {}", run_id, shape->nodes,
                      placed.ToString());
          return;
        }
        waits_for = absl::StrCat("waiting for a free port range: ", placed.message());
      }
      if (head_waits) {
        if (waits_for.empty()) {
          status_details_[run_id] = absl::StrCat("waiting for nodes: 0 of ", shape->nodes);
        }
        continue;
      }
      head_waits = true;
      const int reserved = std::min<int>(static_cast<int>(free.size()), shape->nodes);
      for (int i = 0; i < reserved; ++i) free[i]->reserved_for = run_id;
      status_details_[run_id] =
          waits_for.empty()
              ? absl::StrCat("waiting for nodes: ", reserved, " of ", shape->nodes)
              : waits_for;
    }
  }
  if (handed_out) ChangedLocked();
}

// A poll is a heartbeat: the agent's last seen time, shown by `runyard agents`. A failed
// write is logged; the agent's next poll records it again.
void ControlPlane::RecordPoll(const runyard::v1::PollRequest& request) {
  if (absl::Status touched =
          store_->TouchAgent(request.agent_id(), clock_->NowUnixMs(), request.draining());
      !touched.ok()) {
    Log()->warn("agent {}: cannot record its poll: {}", request.agent_id(), touched.ToString());
  }
}

void ControlPlane::RenewLease(const std::string& run_id, const std::string& holder) {
  if (absl::Status renewed =
          store_->RenewLease(run_id, clock_->NowUnixMs() + options_.lease_duration.count());
      !renewed.ok()) {
    Log()->warn("run {}: cannot renew the lease of {}: {}", run_id, holder, renewed.ToString());
  }
}

absl::StatusOr<runyard::v1::PollResponse> ControlPlane::Poll(
    const runyard::v1::PollRequest& request, const std::function<bool()>& client_gone) {
  ASSIGN_OR_RETURN(const std::string pool, store_->AgentPool(request.agent_id()));
  RecordPoll(request);

  // Transport timing, in real time: how long this call may wait for work.
  const auto wait =
      std::min(std::chrono::milliseconds(std::max(request.wait_ms(), 0)), options_.max_poll_wait);
  const auto deadline = std::chrono::steady_clock::now() + wait;
  runyard::v1::PollResponse response;
  std::unique_lock lock(mutex_);

  // Heartbeat: renew the leases the agent still holds, tell it about those it lost.
  std::vector<std::string> held;
  std::vector<runyard::v1::Lease> held_nodes;  // nodes of distributed runs
  for (const auto& lease : request.held()) {
    absl::StatusOr<LeaseRecord> current = store_->GetLease(lease.run_id());
    if (!current.ok() && !absl::IsNotFound(current.status())) {
      return current.status();  // unknown, not lost: the agent polls again
    }
    if (current.ok() && !current->lease_id.empty() && current->lease_id != lease.lease_id()) {
      LeaseRecord run;
      std::optional<GangNodeRecord> node;
      if (absl::Status s = CheckLease(*store_, lease, &run, &node); !s.ok()) {
        if (!absl::IsFailedPrecondition(s)) return s;  // unknown, not lost
        if (!NodeReportedItsEnd(lease)) response.add_lost_run_ids(lease.run_id());
      } else if (node) {
        if (absl::Status renewed = store_->RenewGangNode(
                lease.run_id(), node->node.node_rank(),
                clock_->NowUnixMs() + options_.lease_duration.count());
            !renewed.ok()) {
          Log()->warn("run {}: cannot renew the lease of node {} ({}): {}", lease.run_id(),
                      node->node.node_rank(), request.agent_id(), renewed.ToString());
        }
        held_nodes.push_back(lease);
      }
      continue;
    }
    if (!current.ok() || current->lease_id != lease.lease_id() ||
        common::IsTerminal(current->status)) {
      response.add_lost_run_ids(lease.run_id());
      continue;
    }
    RenewLease(lease.run_id(), request.agent_id());
    if (current->status == runyard::v1::NOT_RESPONDING) {
      if (absl::Status back = Transition(*store_, lease.run_id(), runyard::v1::RUNNING);
          !back.ok()) {
        Log()->warn("run {}: agent {} is back, but the run cannot be marked Running: {}",
                    lease.run_id(), request.agent_id(), back.ToString());
      } else {
        Log()->info("run {}: agent {} is back", lease.run_id(), request.agent_id());
        ChangedLocked();
      }
    }
    held.push_back(lease.run_id());
  }

  // A draining agent waits for cancels only: with no free slot it is handed no run.
  Waiter waiter;
  waiter.agent_id = request.agent_id();
  waiter.free_slots = request.draining() ? 0 : request.free_slots();
  auto& pool_waiters = waiters_by_pool_[pool];
  pool_waiters.push_back(&waiter);
  DispatchLocked(pool);  // runs that were queued while nobody waited

  while (true) {
    for (const std::string& run_id : held) {
      // A failed read delivers no cancel this time; the next wake-up or poll reads again.
      absl::StatusOr<LeaseRecord> current = store_->GetLease(run_id);
      if (current.ok() && current->status == runyard::v1::CANCEL_REQUESTED) {
        response.add_cancel_run_ids(run_id);
      }
    }
    bool lost_while_waiting = false;
    for (auto node = held_nodes.begin(); node != held_nodes.end();) {
      // A node learns at once that its gang stops (a node failed, a cancel) or that its
      // attempt is over (requeued, failed): one fate for every node.
      if (NodeReportedItsEnd(*node)) {  // it ended as its agent said: nothing to tell it
        node = held_nodes.erase(node);
        continue;
      }
      if (NodeLeaseLost(*node)) {
        response.add_lost_run_ids(node->run_id());
        node = held_nodes.erase(node);
        lost_while_waiting = true;
        continue;
      }
      if (absl::StatusOr<bool> stop = NodeMustStop(node->run_id()); stop.ok() && *stop) {
        response.add_cancel_run_ids(node->run_id());
      }
      ++node;
    }
    if (!waiter.assigned.empty() || response.cancel_run_ids_size() > 0 ||
        lost_while_waiting || stopping_ || !waiter.cut_off.empty() ||
        std::chrono::steady_clock::now() >= deadline || client_gone()) {
      break;
    }
    // Wake up at least once a second to notice a client that went away.
    changed_.wait_until(
        lock, std::min(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(1)));
  }
  std::erase(pool_waiters, &waiter);
  // Its runs, if any were handed to it, were ended with the revoke.
  if (!waiter.cut_off.empty()) return absl::UnauthenticatedError(waiter.cut_off);
  // Seen until now: a long poll is a heartbeat for as long as it waits.
  RecordPoll(request);
  // Runs handed to a poll whose agent has gone (one that starts draining cuts its poll
  // short) would never be seen: back in the queue now, not when their lease expires.
  if (!waiter.assigned.empty() && client_gone()) {
    for (const std::string& run_id : waiter.assigned) {
      if (auto node = waiter.gang.find(run_id); node != waiter.gang.end()) {
        // A gang is handed out whole or not at all: the attempt ends on every node.
        absl::StatusOr<bool> requeued = EndGangAttemptLocked(
            run_id, node->second.lease().fencing_token(), /*may_fail=*/false,
            absl::StrCat("agent ", request.agent_id(), " went away before it got node ",
                         node->second.gang().node_rank()));
        if (!requeued.ok()) {
          // Its node lease expires unused, and the reaper ends the attempt then.
          Log()->warn("run {}: the attempt cannot be ended yet: {}", run_id,
                      requeued.status().ToString());
        }
        continue;
      }
      absl::StatusOr<LeaseRecord> lease = store_->GetLease(run_id);
      if (!lease.ok() || lease->status != runyard::v1::QUEUED ||
          lease->agent_id != request.agent_id())
        continue;
      if (absl::Status requeued = RequeueLocked(*lease).status(); !requeued.ok()) {
        // Its lease expires unused, and the reaper queues it then.
        Log()->warn(
            "run {}: agent {} went away before it got the run, which cannot be queued again yet: "
            "{}",
            run_id, request.agent_id(), requeued.ToString());
        continue;
      }
      Log()->info("run {}: agent {} went away before it got the run; queued again", run_id,
                  request.agent_id());
    }
    DispatchLocked(pool);
    ChangedLocked();
    return absl::CancelledError("the agent went away while its poll was answered");
  }

  for (const std::string& run_id : waiter.assigned) {
    if (auto node = waiter.gang.find(run_id); node != waiter.gang.end()) {
      absl::StatusOr<runyard::v1::Run> run = store_->GetRun(run_id);
      if (!run.ok()) {
        // Not handed out: its node lease expires unused, and the reaper ends the attempt.
        Log()->warn("run {}: node {} leased to agent {} but cannot be read to send: {}", run_id,
                    node->second.gang().node_rank(), request.agent_id(),
                    run.status().ToString());
        continue;
      }
      runyard::v1::RunSpec spec = run->spec();
      if (absl::Status revealed = RevealSecrets(run_id, &spec); !revealed.ok()) {
        // Sent with masked secrets it would run wrong: not sent, as above.
        Log()->warn("run {}: node {} leased to agent {} but its secrets cannot be read: {}",
                    run_id, node->second.gang().node_rank(), request.agent_id(),
                    revealed.ToString());
        continue;
      }
      auto* assignment = response.add_assignments();
      *assignment = node->second;
      *assignment->mutable_spec() = std::move(spec);
      Log()->info("run {}: node {} assigned to agent {}", run_id, node->second.gang().node_rank(),
                  request.agent_id());
      continue;
    }
    absl::StatusOr<runyard::v1::Run> run = store_->GetRun(run_id);
    absl::StatusOr<LeaseRecord> lease = store_->GetLease(run_id);
    if (!run.ok() || !lease.ok()) {
      // Not handed out: its lease expires unused, and the reaper queues it again.
      Log()->warn("run {}: leased to agent {} but cannot be read to send: {}", run_id,
                  request.agent_id(), (run.ok() ? lease.status() : run.status()).ToString());
      continue;
    }
    runyard::v1::RunSpec spec = run->spec();
    if (absl::Status revealed = RevealSecrets(run_id, &spec); !revealed.ok()) {
      Log()->warn("run {}: leased to agent {} but its secrets cannot be read: {}", run_id,
                  request.agent_id(), revealed.ToString());
      continue;
    }
    auto* assignment = response.add_assignments();
    *assignment->mutable_spec() = std::move(spec);
    assignment->mutable_lease()->set_run_id(run_id);
    assignment->mutable_lease()->set_lease_id(lease->lease_id);
    assignment->mutable_lease()->set_fencing_token(lease->fencing_token);
    assignment->set_run_token(waiter.run_tokens[run_id]);
    Log()->info("run {} assigned to agent {}", run_id, request.agent_id());
  }
  return response;
}

absl::Status ControlPlane::CheckLease(Store& store, const runyard::v1::Lease& lease,
                                      LeaseRecord* current, std::optional<GangNodeRecord>* node) {
  ASSIGN_OR_RETURN(LeaseRecord found, store.GetLease(lease.run_id()));
  std::optional<GangNodeRecord> held_node;
  if (!found.lease_id.empty() && found.lease_id != lease.lease_id()) {
    // A node of a distributed run holds a lease of its own, under the attempt's token.
    absl::StatusOr<GangNodeRecord> by_lease = store.FindGangNodeByLease(lease.lease_id());
    if (!by_lease.ok() && !absl::IsNotFound(by_lease.status())) return by_lease.status();
    if (by_lease.ok() && by_lease->run_id == lease.run_id() &&
        by_lease->fencing_token == found.fencing_token) {
      held_node = std::move(*by_lease);
    }
  }
  if (found.lease_id.empty() || (found.lease_id != lease.lease_id() && !held_node) ||
      found.fencing_token != lease.fencing_token()) {
    return absl::FailedPreconditionError(absl::StrCat("lease ", lease.lease_id(), " on run ",
                                                      lease.run_id(), " is no longer current"));
  }
  if (common::IsTerminal(found.status)) {
    return absl::FailedPreconditionError(absl::StrCat("run ", lease.run_id(), " already ended (",
                                                      common::StatusName(found.status), ")"));
  }
  if (held_node && common::IsTerminal(held_node->node.status())) {
    return absl::FailedPreconditionError(
        absl::StrCat("node ", held_node->node.node_rank(), " of run ", lease.run_id(),
                     " already ended (", common::StatusName(held_node->node.status()), ")"));
  }
  *current = std::move(found);
  if (node) *node = std::move(held_node);
  return absl::OkStatus();
}

// A run that ended AgentLost may still receive the files it wrote before its agent was
// lost, from the holder of its last lease (a restarted agent finishing its spool):
// nothing else can write under that lease any more.
bool ControlPlane::MayStillUpload(const runyard::v1::Lease& lease) {
  absl::StatusOr<LeaseRecord> found = store_->GetLease(lease.run_id());
  if (!found.ok() || found->lease_id.empty() || found->lease_id != lease.lease_id() ||
      found->fencing_token != lease.fencing_token() || found->status != runyard::v1::FAILED) {
    return false;
  }
  absl::StatusOr<runyard::v1::Run> run = store_->GetRun(lease.run_id());
  return run.ok() &&
         run->error().code() == common::RunErrorCodeName(common::RunErrorCode::kAgentLost);
}

absl::StatusOr<runyard::v1::UpdateStatusResponse> ControlPlane::UpdateStatus(
    const runyard::v1::UpdateStatusRequest& request) {
  if (!IsAgentReportable(request.status())) {
    return absl::InvalidArgumentError(
        absl::StrCat("an agent cannot report status ", common::StatusName(request.status())));
  }
  std::lock_guard lock(mutex_);
  const std::string& run_id = request.lease().run_id();
  const bool ends = common::IsTerminal(request.status());
  runyard::v1::UpdateStatusResponse response;
  RunStatus status = request.status();
  runyard::v1::RunError error;
  std::optional<GangNodeRecord> node;
  NodeReportOutcome node_outcome;
  // The lease check and what the report writes: one transaction, so that an ended run
  // has its outcome, usage and status together or not at all.
  RETURN_IF_ERROR(store_->InTransaction([&](Store& txn) -> absl::Status {
    LeaseRecord current;
    RETURN_IF_ERROR(CheckLease(txn, request.lease(), &current, &node));
    if (node) {
      node_outcome = {};
      RETURN_IF_ERROR(ApplyNodeReport(txn, request, current, *node, &node_outcome));
      response.set_cancel_requested(node_outcome.stop);
      return absl::OkStatus();
    }
    response.set_cancel_requested(current.status == runyard::v1::CANCEL_REQUESTED);
    if (ends) {
      status = request.status();  // again on every try of the body
      error = request.error();
      RETURN_IF_ERROR(ApplyRequestedOutcome(txn, run_id, &status, &error));
      RETURN_IF_ERROR(txn.SetOutcome(run_id, request.has_exit_code(), request.exit_code(), error));
      if (request.has_usage()) RETURN_IF_ERROR(txn.SetUsage(run_id, request.usage()));
      // A local distributed run (all its nodes on this machine): its ranks are its nodes.
      if (request.ranks_size() > 0) {
        RETURN_IF_ERROR(RecordLocalNodes(txn, current, request, status, error));
      }
      return Transition(txn, run_id, status);
    }
    // A pending cancel stays visible until the holder ends the run.
    if (current.status != request.status() && current.status != runyard::v1::CANCEL_REQUESTED) {
      return Transition(txn, run_id, request.status());
    }
    return absl::OkStatus();
  }));
  if (node) {
    Log()->log(ends ? spdlog::level::info : spdlog::level::debug, "run {}: node {} reported {}",
               run_id, node->node.node_rank(), common::StatusName(request.status()));
    if (node_outcome.run_ended) {
      Log()->info("run {} ended {}{}", run_id, common::StatusName(node_outcome.run_status),
                  node_outcome.run_error_code.empty() ? ""
                                                      : " (" + node_outcome.run_error_code + ")");
    }
  } else if (ends) {
    Log()->info("run {} ended {}{}", run_id, common::StatusName(status),
                error.code().empty() ? "" : " (" + error.code() + ")");
  } else {
    RenewLease(run_id, request.lease().lease_id());
  }
  ChangedLocked();
  return response;
}

absl::StatusOr<runyard::v1::AppendResponse> ControlPlane::Append(
    const runyard::v1::AppendRequest& request) {
  LeaseRecord current;
  if (absl::Status s = CheckLease(*store_, request.lease(), &current);
      !s.ok() && !MayStillUpload(request.lease())) {
    return s;
  }
  ASSIGN_OR_RETURN(const int64_t committed,
                   files_->Append(request.lease().run_id(), request.path(), request.offset(),
                                  request.data(), request.truncate()));
  // The in-run API's records are history once they are ingested: the append is
  // acknowledged (and the script's flush() returns) only then. A failed ingestion fails
  // the append, whose retry ingests again (the bytes are not written twice).
  bool runs_changed = false;
  absl::Status ingested = absl::OkStatus();
  if (const std::optional<int> node_rank = RecordChannelNode(request.path())) {
    ingested = IngestRunRecords(request.lease().run_id(), *node_rank, &runs_changed);
  }
  {
    std::lock_guard lock(mutex_);
    if (runs_changed) {
      ChangedLocked();
    } else {
      FileChangedLocked();
    }
  }
  RETURN_IF_ERROR(ingested);
  runyard::v1::AppendResponse response;
  response.set_committed_size(committed);
  return response;
}

runyard::v1::ReportResponse ControlPlane::Report(const runyard::v1::ReportRequest& request,
                                                 int64_t* appended_bytes) {
  runyard::v1::ReportResponse response;
  for (const runyard::v1::ReportItem& item : request.items()) {
    absl::Status refused;
    if (item.has_append()) {
      absl::StatusOr<runyard::v1::AppendResponse> appended = Append(item.append());
      refused = appended.status();
      if (appended.ok() && appended_bytes != nullptr)
        *appended_bytes += static_cast<int64_t>(item.append().data().size());
    } else if (item.has_status()) {
      absl::StatusOr<runyard::v1::UpdateStatusResponse> updated = UpdateStatus(item.status());
      refused = updated.status();
      if (updated.ok() && updated->cancel_requested()) response.set_cancel_requested(true);
    } else {
      refused = absl::InvalidArgumentError("a report item must hold an append or a status");
    }
    if (!refused.ok()) {
      response.set_error_code(
          static_cast<int32_t>(refused.code()));  // absl and gRPC share the codes
      response.set_error_message(std::string(refused.message()));
      break;
    }
    response.set_applied(response.applied() + 1);
  }
  return response;
}

absl::StatusOr<runyard::v1::Lease> ControlPlane::LeaseToSelf(const std::string& run_id,
                                                             const std::string& holder) {
  std::lock_guard lock(mutex_);
  return AssignLocked(run_id, holder);
}

absl::StatusOr<runyard::v1::RunSpec> ControlPlane::HeldRunSpec(const runyard::v1::Lease& lease) {
  LeaseRecord current;
  RETURN_IF_ERROR(CheckLease(*store_, lease, &current));
  ASSIGN_OR_RETURN(runyard::v1::Run run, store_->GetRun(lease.run_id()));
  RETURN_IF_ERROR(RevealSecrets(lease.run_id(), run.mutable_spec()));
  return std::move(*run.mutable_spec());
}

}  // namespace runyard::server
