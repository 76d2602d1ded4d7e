// The lease reaper's part for distributed runs (issue 16): a node whose lease expired fails
// its gang (AgentLost, the other nodes are told to stop); an attempt whose nodes have not
// all started within the start deadline is stopped and the run queued again with backoff,
// or failed once it was tried gang_max_attempts times.
#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "common/status_names.h"
#include "server/control_plane.h"
#include "server/control_plane_internal.h"
#include "server/gang_rules.h"

namespace runyard::server {
namespace {

auto Log() { return common::Logger("server"); }

int64_t Seconds(std::chrono::milliseconds duration) {
  return std::chrono::duration_cast<std::chrono::seconds>(duration).count();
}

}  // namespace

absl::StatusOr<bool> ControlPlane::EndGangAttemptLocked(const std::string& run_id, int64_t token,
                                                        bool may_fail, const std::string& why) {
  const int64_t now = clock_->NowUnixMs();
  bool applied = false;
  bool failed = false;
  int attempt = 0;
  int64_t retry_at = now;
  RETURN_IF_ERROR(store_->InTransaction([&](Store& txn) -> absl::Status {
    ASSIGN_OR_RETURN(const LeaseRecord lease, txn.GetLease(run_id));
    applied = lease.fencing_token == token && !lease.lease_id.empty() &&
              !common::IsTerminal(lease.status);
    if (!applied) return absl::OkStatus();
    ASSIGN_OR_RETURN(const runyard::v1::Run run, txn.GetRun(run_id));
    attempt = run.attempt();
    failed = may_fail && attempt >= options_.gang_max_attempts;
    if (failed) {
      // The nodes stay as they were, to be shown; their leases end with the run.
      RETURN_IF_ERROR(txn.SetOutcome(
          run_id, false, 0,
          ErrorOf(common::RunErrorCode::kGangStartTimeout,
                  absl::StrCat("the run's nodes did not all start within ",
                               Seconds(options_.gang_start_timeout), " s in ", attempt,
                               " attempt(s); the last time ", why))));
      return Transition(txn, run_id, runyard::v1::FAILED);
    }
    const auto& backoff = options_.gang_retry_backoff;
    if (may_fail && !backoff.empty()) {
      const size_t index = std::min<size_t>(std::max(attempt, 1) - 1, backoff.size() - 1);
      retry_at = now + backoff[index].count();
    }
    LeaseRecord cleared = lease;
    cleared.agent_id.clear();
    cleared.lease_id.clear();  // the token stays: the next attempt gets a higher one
    RETURN_IF_ERROR(txn.SetLease(cleared));
    RETURN_IF_ERROR(txn.SetGangNodes(run_id, {}));  // their leases are no longer anyone's
    RETURN_IF_ERROR(txn.SetAttempt(run_id, attempt, retry_at));
    if (lease.status != runyard::v1::QUEUED) {
      RETURN_IF_ERROR(Transition(txn, run_id, runyard::v1::QUEUED));
    }
    return absl::OkStatus();
  }));
  if (!applied) return false;
  if (failed) {
    Log()->warn("run {}: Failed (GangStartTimeout) after {} attempt(s): {}", run_id, attempt, why);
  } else {
    Log()->warn("run {}: attempt {} stopped ({}); queued again, handed out from {} ms on", run_id,
                attempt, why, retry_at);
    status_details_[run_id] =
        absl::StrCat("waiting to retry: attempt ", attempt, " stopped because ", why);
  }
  return true;
}

bool ControlPlane::ReapGangsLocked(int64_t now, std::set<std::string>* gang_runs, bool* changed) {
  absl::StatusOr<std::vector<GangNodeRecord>> active = store_->ActiveGangNodes();
  if (!active.ok()) {
    Log()->warn("lease reaper: cannot read the nodes of distributed runs (next pass tries again): {}",
                active.status().ToString());
    return false;
  }
  std::map<std::string, std::vector<GangNodeRecord>> by_run;
  for (GangNodeRecord& node : *active) by_run[node.run_id].push_back(std::move(node));
  for (const auto& [run_id, nodes] : by_run) {
    gang_runs->insert(run_id);
    absl::StatusOr<LeaseRecord> run = store_->GetLease(run_id);
    if (!run.ok()) continue;  // the next pass reads it again
    const int64_t token = nodes.front().fencing_token;
    const auto expired = [&](const GangNodeRecord& node) {
      return !common::IsTerminal(node.node.status()) && node.expiry_ms < now;
    };
    const bool any_expired = std::any_of(nodes.begin(), nodes.end(), expired);
    const bool stopping = GangMustStop(run->status, nodes);
    std::vector<std::string> not_running;
    for (const GangNodeRecord& node : nodes) {
      if (Progress(node.node.status()) < Progress(runyard::v1::RUNNING)) {
        not_running.push_back(absl::StrCat(DescribeNode(node.node), " was ",
                                           common::StatusName(node.node.status())));
      }
    }
    const bool never_reported = std::all_of(nodes.begin(), nodes.end(), [&](const auto& node) {
      return !expired(node) || node.node.status() == runyard::v1::QUEUED;
    });
    std::vector<std::string> never_took_it;
    for (const GangNodeRecord& node : nodes) {
      if (expired(node)) never_took_it.push_back(DescribeNode(node.node));
    }
    absl::StatusOr<bool> applied = false;
    if (any_expired && !stopping && never_reported && run->status == runyard::v1::QUEUED) {
      // Handed out, but a node's agent never took it up: nothing started; try again.
      applied = EndGangAttemptLocked(
          run_id, token, /*may_fail=*/true,
          absl::StrCat(absl::StrJoin(never_took_it, ", "), " never took it up"));
    } else if (any_expired) {
      NodeReportOutcome outcome;
      applied = IfLeaseUnchanged(*run, [&](Store& txn) -> absl::Status {
        for (GangNodeRecord node : nodes) {
          if (!expired(node)) continue;
          node.node.set_status(runyard::v1::FAILED);
          *node.node.mutable_error() = ErrorOf(
              common::RunErrorCode::kAgentLost,
              absl::StrCat(DescribeNode(node.node), " stopped responding (its lease expired)"));
          node.ended_ms = now;
          RETURN_IF_ERROR(txn.UpdateGangNode(node));
        }
        ASSIGN_OR_RETURN(const std::vector<GangNodeRecord> now_nodes, txn.GangNodes(run_id));
        if (std::all_of(now_nodes.begin(), now_nodes.end(),
                        [](const auto& n) { return common::IsTerminal(n.node.status()); })) {
          return EndGang(txn, *run, now_nodes, &outcome);
        }
        return absl::OkStatus();
      });
      if (applied.ok() && *applied) {
        Log()->warn("run {}: a node's lease expired; {}", run_id,
                    outcome.run_ended ? absl::StrCat("the run ended ",
                                                     common::StatusName(outcome.run_status))
                                      : "the other nodes are told to stop");
      }
    } else if (!stopping && Progress(run->status) < Progress(runyard::v1::RUNNING) &&
               nodes.front().assigned_ms + options_.gang_start_timeout.count() < now) {
      applied = EndGangAttemptLocked(
          run_id, token, /*may_fail=*/true,
          absl::StrCat("not running after ", Seconds(options_.gang_start_timeout),
                       " s: ", absl::StrJoin(not_running, ", ")));
    }
    if (!applied.ok()) {
      Log()->warn("run {}: the lease reaper cannot end its attempt (next pass tries again): {}",
                  run_id, applied.status().ToString());
      continue;
    }
    if (*applied) *changed = true;
  }
  return true;
}

}  // namespace runyard::server
