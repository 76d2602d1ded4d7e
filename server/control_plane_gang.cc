// ControlPlane for distributed runs (issue 16): a run needing N nodes is handed to N agents
// of its pool at once (PlaceGangLocked, called by DispatchLocked), each node reports under
// a lease of its own, and the run's status is what its nodes' statuses add up to
// (ApplyNodeReport, EndGang). The reaper's part: control_plane_gang_reaper.cc.
#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/distributed_config.h"
#include "common/ids.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "common/run_error_code.h"
#include "common/status_names.h"
#include "server/control_plane.h"
#include "server/control_plane_internal.h"
#include "server/gang_rules.h"

namespace runyard::server {
using runyard::v1::RunStatus;
namespace {

auto Log() { return common::Logger("server"); }

}  // namespace

absl::StatusOr<ControlPlane::RunShape> ControlPlane::ShapeOfLocked(const std::string& run_id) {
  if (auto known = shapes_.find(run_id); known != shapes_.end()) return known->second;
  ASSIGN_OR_RETURN(const runyard::v1::Run run, store_->GetRun(run_id));
  RunShape shape;
  shape.gang = common::IsDistributed(run.spec());
  shape.nodes = common::NodeCount(run.spec());
  shape.ports = common::PortCount(run.spec());
  shape.max_run_seconds = run.spec().max_run_duration_seconds();
  shapes_[run_id] = shape;
  return shape;
}

absl::Status ControlPlane::PlaceGangLocked(const std::string& pool, const std::string& run_id,
                                           const RunShape& shape,
                                           const std::vector<Waiter*>& nodes) {
  ASSIGN_OR_RETURN(const std::vector<AgentRecord> agents, store_->ListAgents(pool));
  std::map<std::string, const AgentRecord*> agent_by_id;
  for (const AgentRecord& agent : agents) agent_by_id[agent.agent_id] = &agent;

  const int64_t now = clock_->NowUnixMs();
  std::vector<GangNodeRecord> records;
  // Each node's run token, stored with the hand-out.
  std::vector<MintedToken> run_tokens;
  for (const Waiter* node : nodes) {
    run_tokens.push_back(MintRunToken(run_id, node->agent_id, shape.max_run_seconds));
  }
  int attempt = 0;
  RETURN_IF_ERROR(store_->InTransaction([&](Store& txn) -> absl::Status {
    records.clear();
    ASSIGN_OR_RETURN(const LeaseRecord previous, txn.GetLease(run_id));
    if (previous.status != runyard::v1::QUEUED || !previous.lease_id.empty()) {
      return absl::FailedPreconditionError(absl::StrCat("run ", run_id, " is no longer queued"));
    }
    ASSIGN_OR_RETURN(const std::vector<GangNodeRecord> active, txn.ActiveGangNodes());
    const std::optional<int> base_port = FreePortRange(
        active, shape.ports, options_.gang_port_first, options_.gang_port_last);
    if (!base_port) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "no ", shape.ports, " free port(s) in ", options_.gang_port_first, "-",
          options_.gang_port_last, ": other distributed runs hold them"));
    }
    ASSIGN_OR_RETURN(const runyard::v1::Run run, txn.GetRun(run_id));
    attempt = run.attempt() + 1;
    LeaseRecord lease = previous;
    lease.agent_id = nodes.front()->agent_id;
    lease.lease_id = common::NewLeaseId();  // the attempt's; every node has its own
    lease.fencing_token = previous.fencing_token + 1;
    lease.expiry_ms = now + options_.lease_duration.count();
    RETURN_IF_ERROR(txn.SetLease(lease));
    for (size_t rank = 0; rank < nodes.size(); ++rank) {
      GangNodeRecord& record = records.emplace_back();
      record.run_id = run_id;
      record.node.set_node_rank(static_cast<int32_t>(rank));
      record.node.set_agent_id(nodes[rank]->agent_id);
      if (auto found = agent_by_id.find(nodes[rank]->agent_id); found != agent_by_id.end()) {
        record.node.set_agent_name(found->second->name);
        record.node.set_hostname(found->second->hostname);
        record.node.set_address(found->second->address);
      }
      record.node.set_status(runyard::v1::QUEUED);
      record.lease_id = common::NewLeaseId();
      record.fencing_token = lease.fencing_token;
      record.expiry_ms = lease.expiry_ms;
      record.assigned_ms = now;
      record.base_port = *base_port;
      record.port_count = shape.ports;
    }
    RETURN_IF_ERROR(txn.SetGangNodes(run_id, records));
    for (const MintedToken& token : run_tokens) RETURN_IF_ERROR(txn.InsertToken(token.record));
    return txn.SetAttempt(run_id, attempt, 0);
  }));

  runyard::v1::GangPlacement placement;
  for (const GangNodeRecord& record : records) {
    auto* node = placement.add_nodes();
    node->set_node_rank(record.node.node_rank());
    node->set_agent_id(record.node.agent_id());
    node->set_address(record.node.address());
    node->set_hostname(record.node.hostname());
  }
  placement.set_base_port(records.front().base_port);
  placement.set_port_count(records.front().port_count);
  placement.set_secret(common::RandomHex(32));
  std::vector<std::string> where;
  for (size_t rank = 0; rank < records.size(); ++rank) {
    runyard::v1::Assignment assignment;
    assignment.mutable_lease()->set_run_id(run_id);
    assignment.mutable_lease()->set_lease_id(records[rank].lease_id);
    assignment.mutable_lease()->set_fencing_token(records[rank].fencing_token);
    *assignment.mutable_gang() = placement;
    assignment.mutable_gang()->set_node_rank(static_cast<int32_t>(rank));
    assignment.set_run_token(std::move(run_tokens[rank].token));
    nodes[rank]->gang[run_id] = std::move(assignment);
    nodes[rank]->assigned.push_back(run_id);
    where.push_back(DescribeNode(records[rank].node));
  }
  shapes_.erase(run_id);
  status_details_.erase(run_id);
  Log()->info("run {} handed out to {} node(s), attempt {}, ports {}-{}: {}", run_id,
              records.size(), attempt, placement.base_port(),
              placement.base_port() + std::max(placement.port_count(), 1) - 1,
              absl::StrJoin(where, ", "));
  return absl::OkStatus();
}

void ControlPlane::AddStatusDetail(runyard::v1::Run* run) {
  if (run->status() != runyard::v1::QUEUED || !common::IsDistributed(run->spec())) return;
  std::lock_guard lock(mutex_);
  if (auto found = status_details_.find(run->run_id()); found != status_details_.end()) {
    run->set_status_detail(found->second);
  } else if (run->nodes_size() == 0) {
    // Not looked at by a dispatch yet (no agent of its pool has polled since it came).
    run->set_status_detail(
        absl::StrCat("waiting for nodes: 0 of ", common::NodeCount(run->spec())));
  }
}

absl::Status ControlPlane::ApplyNodeReport(Store& txn,
                                           const runyard::v1::UpdateStatusRequest& request,
                                           const LeaseRecord& run, GangNodeRecord node,
                                           NodeReportOutcome* outcome) {
  const int64_t now = clock_->NowUnixMs();
  const RunStatus status = request.status();
  if (common::IsTerminal(status)) {
    node.node.set_status(status);
    *node.node.mutable_ranks() = request.ranks();
    *node.node.mutable_error() = request.error();
    node.has_exit_code = request.has_exit_code();
    node.exit_code = request.exit_code();
    if (request.has_usage()) node.usage = request.usage();
    node.ended_ms = now;
  } else if (Progress(status) > Progress(node.node.status())) {
    node.node.set_status(status);
  }
  node.expiry_ms = now + options_.lease_duration.count();  // a report renews the node's lease
  RETURN_IF_ERROR(txn.UpdateGangNode(node));
  ASSIGN_OR_RETURN(const std::vector<GangNodeRecord> nodes, txn.GangNodes(run.run_id));
  outcome->stop = GangMustStop(run.status, nodes);
  const bool all_ended = std::all_of(nodes.begin(), nodes.end(), [](const GangNodeRecord& n) {
    return common::IsTerminal(n.node.status());
  });
  if (all_ended) return EndGang(txn, run, nodes, outcome);
  if (outcome->stop) return absl::OkStatus();  // the run keeps its status while it stops
  // The run is as far as its least advanced node that is still going.
  int least = Progress(runyard::v1::FINALIZING);
  RunStatus target = runyard::v1::FINALIZING;
  for (const GangNodeRecord& other : nodes) {
    if (common::IsTerminal(other.node.status())) continue;
    if (Progress(other.node.status()) < least) {
      least = Progress(other.node.status());
      target = other.node.status();
    }
  }
  if (Progress(target) > Progress(run.status)) {
    RETURN_IF_ERROR(Transition(txn, run.run_id, target));
  }
  return absl::OkStatus();
}

absl::Status ControlPlane::EndGang(Store& txn, const LeaseRecord& run,
                                   const std::vector<GangNodeRecord>& nodes,
                                   NodeReportOutcome* outcome) {
  const auto any = [&](RunStatus status) {
    return std::any_of(nodes.begin(), nodes.end(),
                       [&](const GangNodeRecord& n) { return n.node.status() == status; });
  };
  RunStatus status = runyard::v1::COMPLETED;
  if (run.status == runyard::v1::CANCEL_REQUESTED) {
    status = runyard::v1::CANCELED;
  } else if (any(runyard::v1::FAILED)) {
    status = runyard::v1::FAILED;
  } else if (any(runyard::v1::CANCELED)) {
    status = runyard::v1::CANCELED;
  }
  runyard::v1::RunError error;
  bool has_exit_code = nodes.front().has_exit_code;
  int exit_code = nodes.front().exit_code;
  if (status == runyard::v1::FAILED) {
    const GangFailure failure = *FirstGangFailure(nodes);
    const GangNodeRecord& failed = nodes[failure.node_index];
    error = failed.node.error();
    has_exit_code = failure.rank ? failure.rank->exited() : failed.has_exit_code;
    exit_code = failure.rank ? failure.rank->exit_code() : failed.exit_code;
    if (error.code().empty()) {
      error = ErrorOf(common::RunErrorCode::kUserError,
                      absl::StrCat(DescribeNode(failed.node), " failed"));
    }
  } else if (status == runyard::v1::CANCELED) {
    // The first node that ended canceled says why (a user's cancel, a deadline).
    const GangNodeRecord* first = nullptr;
    for (const GangNodeRecord& node : nodes) {
      if (node.node.status() == runyard::v1::CANCELED &&
          (!first || node.ended_ms < first->ended_ms)) {
        first = &node;
      }
    }
    if (first) error = first->node.error();
    has_exit_code = false;
    exit_code = 0;
    if (error.code().empty()) {
      error = ErrorOf(common::RunErrorCode::kCanceled, "the run was canceled");
    }
  }
  RETURN_IF_ERROR(ApplyRequestedOutcome(txn, run.run_id, &status, &error));
  RETURN_IF_ERROR(txn.SetOutcome(run.run_id, has_exit_code, exit_code, error));
  RETURN_IF_ERROR(txn.SetUsage(run.run_id, SumUsage(nodes)));
  RETURN_IF_ERROR(Transition(txn, run.run_id, status));
  outcome->run_ended = true;
  outcome->run_status = status;
  outcome->run_error_code = error.code();
  return absl::OkStatus();
}

absl::Status ControlPlane::RecordLocalNodes(Store& txn, const LeaseRecord& run,
                                            const runyard::v1::UpdateStatusRequest& request,
                                            RunStatus status, const runyard::v1::RunError& error) {
  std::vector<GangNodeRecord> records;
  for (runyard::v1::RunNode& node : NodesFromRanks(request.ranks(), status, error)) {
    GangNodeRecord& record = records.emplace_back();
    record.run_id = run.run_id;
    node.set_agent_id(run.agent_id);
    record.node = std::move(node);
    record.fencing_token = run.fencing_token;
    record.ended_ms = clock_->NowUnixMs();
  }
  return txn.SetGangNodes(run.run_id, records);
}

absl::StatusOr<bool> ControlPlane::NodeMustStop(const std::string& run_id) {
  ASSIGN_OR_RETURN(const LeaseRecord run, store_->GetLease(run_id));
  ASSIGN_OR_RETURN(const std::vector<GangNodeRecord> nodes, store_->GangNodes(run_id));
  return GangMustStop(run.status, nodes);
}

bool ControlPlane::NodeLeaseLost(const runyard::v1::Lease& lease) {
  LeaseRecord current;
  std::optional<GangNodeRecord> node;
  const absl::Status held = CheckLease(*store_, lease, &current, &node);
  // A store that does not answer loses nothing: the next look decides.
  return absl::IsFailedPrecondition(held) || absl::IsNotFound(held);
}

bool ControlPlane::NodeReportedItsEnd(const runyard::v1::Lease& lease) {
  absl::StatusOr<GangNodeRecord> node = store_->FindGangNodeByLease(lease.lease_id());
  return node.ok() && node->run_id == lease.run_id() &&
         node->fencing_token == lease.fencing_token() && common::IsTerminal(node->node.status()) &&
         node->node.error().code() != common::RunErrorCodeName(common::RunErrorCode::kAgentLost);
}

}  // namespace runyard::server
