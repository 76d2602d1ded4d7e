// SqliteConnectionStore's part for distributed runs (issue 16): the run_nodes table, one row
// per node of a run's current attempt.

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/sqlite_connection_store.h"

namespace runyard::server {
namespace {

constexpr char kNodeColumns[] =
    "n.run_id, n.node_rank, n.agent_id, n.lease_id, n.fencing_token, n.lease_expiry_ms, "
    "n.status, n.node, n.assigned_ms, n.ended_ms, n.has_exit_code, n.exit_code, n.usage, "
    "n.base_port, n.port_count";

GangNodeRecord NodeFromRow(const Statement& row) {
  GangNodeRecord record;
  record.run_id = row.Text(0);
  record.node.ParseFromString(row.Text(7));
  // The columns are the truth; the blob carries what has no column of its own.
  record.node.set_node_rank(static_cast<int32_t>(row.Int(1)));
  record.node.set_agent_id(row.Text(2));
  record.lease_id = row.Text(3);
  record.fencing_token = row.Int(4);
  record.expiry_ms = row.Int(5);
  record.node.set_status(static_cast<runyard::v1::RunStatus>(row.Int(6)));
  record.assigned_ms = row.Int(8);
  record.ended_ms = row.Int(9);
  record.has_exit_code = row.Int(10) != 0;
  record.exit_code = static_cast<int>(row.Int(11));
  record.usage.ParseFromString(row.Text(12));
  record.base_port = static_cast<int>(row.Int(13));
  record.port_count = static_cast<int>(row.Int(14));
  return record;
}

// Binds every column but run_id and node_rank, from parameter 3 on.
void BindNodeColumns(Statement& statement, const GangNodeRecord& record) {
  statement.Bind(3, record.node.agent_id())
      .Bind(4, record.lease_id)
      .Bind(5, record.fencing_token)
      .Bind(6, record.expiry_ms)
      .Bind(7, static_cast<int64_t>(record.node.status()))
      .BindBlob(8, record.node.SerializeAsString())
      .Bind(9, record.assigned_ms)
      .Bind(10, record.ended_ms)
      .Bind(11, record.has_exit_code ? 1 : 0)
      .Bind(12, static_cast<int64_t>(record.exit_code))
      .BindBlob(13, record.usage.SerializeAsString())
      .Bind(14, static_cast<int64_t>(record.base_port))
      .Bind(15, static_cast<int64_t>(record.port_count));
}

absl::StatusOr<std::vector<GangNodeRecord>> SelectNodes(Statement& select) {
  std::vector<GangNodeRecord> nodes;
  while (select.Step()) nodes.push_back(NodeFromRow(select));
  RETURN_IF_ERROR(select.status());
  return nodes;
}

}  // namespace

absl::Status SqliteConnectionStore::SetGangNodes(const std::string& run_id,
                                                 const std::vector<GangNodeRecord>& nodes) {
  return InTransaction([&](Store&) -> absl::Status {
    Statement erase = db_.Prepare("DELETE FROM run_nodes WHERE run_id = ?");
    RETURN_IF_ERROR(erase.Bind(1, run_id).Run());
    Statement insert = db_.Prepare(
        "INSERT INTO run_nodes(run_id, node_rank, agent_id, lease_id, fencing_token, "
        "lease_expiry_ms, status, node, assigned_ms, ended_ms, has_exit_code, exit_code, usage, "
        "base_port, port_count) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
        "?14, ?15)");
    for (const GangNodeRecord& node : nodes) {
      insert.Bind(1, run_id).Bind(2, static_cast<int64_t>(node.node.node_rank()));
      BindNodeColumns(insert, node);
      RETURN_IF_ERROR(insert.Run());
      insert.Reset();
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<GangNodeRecord>> SqliteConnectionStore::GangNodes(
    const std::string& run_id) {
  Statement select = db_.Prepare(absl::StrCat("SELECT ", kNodeColumns,
                                              " FROM run_nodes n WHERE n.run_id = ? "
                                              "ORDER BY n.node_rank"));
  select.Bind(1, run_id);
  return SelectNodes(select);
}

absl::Status SqliteConnectionStore::LoadNodes(runyard::v1::Run* run) {
  ASSIGN_OR_RETURN(std::vector<GangNodeRecord> nodes, GangNodes(run->run_id()));
  for (GangNodeRecord& node : nodes) *run->add_nodes() = std::move(node.node);
  return absl::OkStatus();
}

absl::Status SqliteConnectionStore::UpdateGangNode(const GangNodeRecord& node) {
  Statement update = db_.Prepare(
      "UPDATE run_nodes SET agent_id = ?3, lease_id = ?4, fencing_token = ?5, "
      "lease_expiry_ms = ?6, status = ?7, node = ?8, assigned_ms = ?9, ended_ms = ?10, "
      "has_exit_code = ?11, exit_code = ?12, usage = ?13, base_port = ?14, port_count = ?15 "
      "WHERE run_id = ?1 AND node_rank = ?2 RETURNING 1");
  update.Bind(1, node.run_id).Bind(2, static_cast<int64_t>(node.node.node_rank()));
  BindNodeColumns(update, node);
  const bool found = update.Step();
  RETURN_IF_ERROR(update.Run());  // to the end: the write completes with the statement
  if (!found) {
    return absl::NotFoundError(
        absl::StrCat("run '", node.run_id, "' has no node ", node.node.node_rank()));
  }
  return absl::OkStatus();
}

absl::Status SqliteConnectionStore::RenewGangNode(const std::string& run_id, int node_rank,
                                                  int64_t expiry_ms) {
  Statement update = db_.Prepare(
      "UPDATE run_nodes SET lease_expiry_ms = ? WHERE run_id = ? AND node_rank = ?");
  update.Bind(1, expiry_ms).Bind(2, run_id).Bind(3, static_cast<int64_t>(node_rank));
  return update.Run();
}

absl::StatusOr<GangNodeRecord> SqliteConnectionStore::FindGangNodeByLease(
    const std::string& lease_id) {
  if (lease_id.empty()) return absl::NotFoundError("no node holds an empty lease");
  Statement select = db_.Prepare(
      absl::StrCat("SELECT ", kNodeColumns, " FROM run_nodes n WHERE n.lease_id = ?"));
  select.Bind(1, lease_id);
  ASSIGN_OR_RETURN(std::vector<GangNodeRecord> nodes, SelectNodes(select));
  if (nodes.empty()) {
    return absl::NotFoundError(absl::StrCat("no node of a run holds lease ", lease_id));
  }
  return std::move(nodes.front());
}

absl::StatusOr<std::vector<GangNodeRecord>> SqliteConnectionStore::ActiveGangNodes() {
  Statement select = db_.Prepare(absl::StrCat(
      "SELECT ", kNodeColumns,
      " FROM run_nodes n JOIN runs r ON r.run_id = n.run_id "
      "WHERE r.lease_id != '' AND r.status NOT IN (?, ?, ?) AND n.fencing_token = r.fencing_token "
      "ORDER BY n.run_id, n.node_rank"));
  select.Bind(1, static_cast<int64_t>(runyard::v1::COMPLETED))
      .Bind(2, static_cast<int64_t>(runyard::v1::FAILED))
      .Bind(3, static_cast<int64_t>(runyard::v1::CANCELED));
  return SelectNodes(select);
}

}  // namespace runyard::server
