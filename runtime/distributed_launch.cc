#include "runtime/distributed_launch.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/distributed_config.h"
#include "common/run_error_code.h"
#include "runtime/command_line.h"
#include "runtime/free_ports.h"
#include "runtime/mpi_rank.h"
#include "runtime/ranks_binary.h"
#include "runtime/remote_exec.h"

namespace runyard::runtime {
namespace fs = std::filesystem;
namespace {

std::string ThisHost() {
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  return name;
}

// Where this node stands: the server's placement, or every node here (the local target).
absl::StatusOr<NodePlacement> PlacementOf(const runyard::v1::RunSpec& spec,
                                          const runyard::v1::GangPlacement* gang,
                                          const DistributedLaunchOptions& options,
                                          std::vector<std::string>& hostnames) {
  NodePlacement placement;
  placement.network_interface = options.network_interface;
  hostnames.assign(common::NodeCount(spec), "");
  if (gang == nullptr) {
    placement.all_nodes_here = true;
    if (placement.network_interface.empty()) placement.network_interface = "lo";
    absl::StatusOr<int> base = FindFreePortRange(common::PortCount(spec));
    if (!base.ok()) return absl::FailedPreconditionError(base.status().message());
    placement.base_port = *base;
    std::fill(hostnames.begin(), hostnames.end(), ThisHost());
    return placement;
  }
  placement.node_rank = gang->node_rank();
  placement.base_port = gang->base_port();
  placement.addresses.assign(common::NodeCount(spec), "");
  for (const runyard::v1::GangNode& node : gang->nodes()) {
    if (node.node_rank() < 0 || node.node_rank() >= common::NodeCount(spec)) continue;
    placement.addresses[node.node_rank()] = node.address();
    hostnames[node.node_rank()] = node.hostname().empty() ? node.address() : node.hostname();
  }
  if (placement.node_rank < 0 || placement.node_rank >= common::NodeCount(spec)) {
    return absl::InvalidArgumentError(absl::StrCat("node rank ", placement.node_rank,
                                                   " is not among the run's ",
                                                   common::NodeCount(spec), " nodes"));
  }
  return placement;
}

std::string ModeName(NodeLaunchPlan::Mode mode) {
  switch (mode) {
    case NodeLaunchPlan::Mode::kPerProcess:
      return "one process per rank";
    case NodeLaunchPlan::Mode::kPerNode:
      return "one process per node";
    case NodeLaunchPlan::Mode::kMpi:
      return "mpirun";
  }
  return "";
}

std::string Describe(const runyard::v1::RunSpec& spec, const NodePlacement& placement,
                     const NodeLaunchPlan& plan) {
  std::vector<std::string> processes;
  for (const PlannedProcess& process : plan.processes) {
    processes.push_back(plan.mode == NodeLaunchPlan::Mode::kPerProcess
                            ? absl::StrCat("rank ", process.rank)
                            : absl::StrCat("node ", process.node_rank));
  }
  const std::string where =
      placement.all_nodes_here
          ? absl::StrCat("all ", common::NodeCount(spec), " node(s) on this machine")
          : absl::StrCat("node ", placement.node_rank, " of ", common::NodeCount(spec));
  const std::string master = placement.addresses.empty() || placement.addresses[0].empty()
                                 ? "127.0.0.1"
                                 : placement.addresses[0];
  return absl::StrCat("distributed ", common::DistributedKind(spec), " (", ModeName(plan.mode),
                      "): ", where, ", world size ", common::WorldSize(spec), "; here: ",
                      absl::StrJoin(processes, ", "), "; node 0 at ", master, ", ports ",
                      placement.base_port, "..",
                      placement.base_port + std::max(1, common::PortCount(spec)) - 1,
                      placement.network_interface.empty()
                          ? ""
                          : "; interface " + placement.network_interface);
}

std::string Label(const NodeLaunchPlan& plan, const PlannedProcess& process) {
  return plan.mode == NodeLaunchPlan::Mode::kPerProcess
             ? absl::StrCat("rank ", process.rank)
             : absl::StrCat("node ", process.node_rank);
}

absl::Status WriteFile(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::InternalError("cannot write " + file.string());
  return absl::OkStatus();
}

}  // namespace

absl::Status DistributedLaunch::MakeFolder(const DistributedLaunchOptions& options) {
  ranks_binary_ = options.ranks_binary.empty() ? FindRanksBinaryOfThisProcess() : options.ranks_binary;
  if (ranks_binary_.empty()) {
    return absl::FailedPreconditionError(
        "runyard-ranks, which starts a distributed run's ranks, was not found next to this "
        "program (<prefix>/lib/runyard/runyard-ranks)");
  }
  std::error_code ec;
  fs::remove_all(folder_, ec);
  fs::create_directories(logs_dir(), ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create ", logs_dir().string(), ": ", ec.message()));
  }
  if (options.run_as) {
    for (const fs::path& folder : {folder_, logs_dir()}) {
      if (::chown(folder.c_str(), options.run_as->uid, options.run_as->gid) != 0) {
        return absl::PermissionDeniedError(absl::StrCat("cannot give ", folder.string(), " to ",
                                                        options.run_as->name, ": ",
                                                        strerror(errno)));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status DistributedLaunch::WriteRunFile(const fs::path& file, const std::string& text,
                                             const DistributedLaunchOptions& options) const {
  if (absl::Status written = WriteFile(file, text); !written.ok()) return written;
  ::chmod(file.c_str(), 0600);  // the secret: the run's user only
  if (options.run_as && ::chown(file.c_str(), options.run_as->uid, options.run_as->gid) != 0) {
    return absl::PermissionDeniedError(absl::StrCat("cannot give ", file.string(), " to ",
                                                    options.run_as->name, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status DistributedLaunch::PrepareMpi(const runyard::v1::GangPlacement* gang,
                                           const DistributedLaunchOptions& options,
                                           LaunchRequest& request) {
  for (const auto& [name, value] : plan_.processes[0].environment) request.environment[name] = value;
  const std::vector<std::string>& prefix = plan_.launcher_prefix;
  absl::StatusOr<fs::path> mpirun = fs::path();
  if (!prefix.empty()) {
    mpirun = FindExecutable(prefix[0], request.environment["PATH"]);
    if (!mpirun.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "an MPI run needs ", prefix[0], " on the node (Debian: openmpi-bin): ",
          mpirun.status().message()));
    }
  }
  if (absl::Status ready = MakeFolder(options); !ready.ok()) return ready;
  // Where this node's ranks start and log (mpi_rank.h): on node k, orted and its ranks
  // inherit the listener's environment.
  request.environment[kMpiWorkingDirVariable] = request.working_dir.string();
  request.environment[kMpiRankLogDirVariable] = logs_dir().string();
  const bool across_nodes = !plan_.mpi_hosts.empty() || plan_.remote_exec_port > 0;
  const std::string secret = gang == nullptr ? "" : gang->secret();
  if (across_nodes && secret.empty()) {
    return absl::InvalidArgumentError(
        "the server sent no secret for this MPI run's nodes (a server older than this agent?)");
  }

  if (plan_.remote_exec_port > 0) {  // node k > 0: node 0's mpirun starts orted here
    const fs::path secret_file = folder_ / "secret";
    if (absl::Status written = WriteRunFile(secret_file, secret + "\n", options); !written.ok()) {
      return written;
    }
    // Open MPI names its shared-memory files by host name and local rank: two nodes on one
    // host (the tests' agents) would share them.
    request.environment["OMPI_MCA_btl_vader_backing_directory"] = folder_.string();
    request.executable = ranks_binary_;
    request.arguments = {"--serve-remote-exec", "--port", std::to_string(plan_.remote_exec_port),
                         "--secret-file", secret_file.string(), "--started-file",
                         started_file().string(), "--kill-grace-ms",
                         std::to_string(options.rank_kill_grace.count())};
    return absl::OkStatus();
  }

  std::vector<std::string> arguments(prefix.begin() + 1, prefix.end());
  if (across_nodes) {
    std::string hostfile_text;
    RemoteNodeMap map;
    map.secret = secret;
    for (const NodeLaunchPlan::MpiHost& host : plan_.mpi_hosts) {
      absl::StrAppend(&hostfile_text, host.name, " slots=", host.slots, "\n");
      if (!host.address.empty()) map.nodes[host.name] = {host.address, host.port};
    }
    const fs::path hostfile = folder_ / "hostfile";
    const fs::path node_map = folder_ / "nodes";
    if (absl::Status written = WriteRunFile(hostfile, hostfile_text, options); !written.ok()) {
      return written;
    }
    if (absl::Status written = WriteRunFile(node_map, RemoteNodeMapText(map), options);
        !written.ok()) {
      return written;
    }
    // No ssh: mpirun reaches the other nodes' listeners through runyard-ranks --rsh.
    arguments.insert(arguments.end(),
                     {"--hostfile", hostfile.string(), "--mca", "plm_rsh_agent",
                      ranks_binary_.string() + " --rsh " + node_map.string()});
  }
  arguments.insert(arguments.end(), {ranks_binary_.string(), "--mpi-rank", "--",
                                     request.executable.string()});
  arguments.insert(arguments.end(), request.arguments.begin(), request.arguments.end());
  request.executable = *mpirun;
  request.arguments = std::move(arguments);
  return absl::OkStatus();
}

absl::StatusOr<DistributedLaunch> DistributedLaunch::Prepare(
    const runyard::v1::RunSpec& spec, const runyard::v1::GangPlacement* gang,
    const fs::path& run_root, const DistributedLaunchOptions& options, LaunchRequest& request) {
  DistributedLaunch launch;
  absl::StatusOr<NodePlacement> placement = PlacementOf(spec, gang, options, launch.hostnames_);
  if (!placement.ok()) return placement.status();
  launch.node_rank_ = placement->all_nodes_here ? 0 : placement->node_rank;
  launch.plan_ = PlanNodeLaunch(spec, *placement);
  launch.description_ = Describe(spec, *placement, launch.plan_);
  launch.folder_ = run_root / "ranks";
  launch.supervised_ = launch.plan_.mode == NodeLaunchPlan::Mode::kPerProcess ||
                       launch.plan_.processes.size() > 1;
  if (launch.plan_.processes.empty()) {
    return absl::InvalidArgumentError("this node has no process of the run to start");
  }

  if (launch.plan_.mode == NodeLaunchPlan::Mode::kMpi) {
    if (absl::Status ready = launch.PrepareMpi(gang, options, request); !ready.ok()) return ready;
    return launch;
  }
  if (!launch.supervised_) {
    // The command itself, told the node's place.
    for (const auto& [name, value] : launch.plan_.processes[0].environment) {
      request.environment[name] = value;
    }
    return launch;
  }

  if (absl::Status ready = launch.MakeFolder(options); !ready.ok()) return ready;
  SupervisorPlan plan;
  plan.result_file = launch.folder_ / "result.json";
  plan.started_file = launch.started_file();
  plan.successful_return_codes.assign(spec.successful_return_codes().begin(),
                                      spec.successful_return_codes().end());
  for (const PlannedProcess& planned : launch.plan_.processes) {
    SupervisedProcess process;
    process.label = Label(launch.plan_, planned);
    process.rank = planned.rank;
    process.node_rank = planned.node_rank;
    process.local_rank = planned.local_rank;
    process.argv.push_back(request.executable.string());
    process.argv.insert(process.argv.end(), request.arguments.begin(), request.arguments.end());
    process.environment = planned.environment;
    // Node 0's own log is the supervisor's output (user_logs/std_log.txt); the others'
    // land in the folder mirrored as user_logs/.
    if (planned.log_path != common::NodeLogPath(0)) {
      process.log_file = launch.logs_dir() / fs::path(planned.log_path).filename();
    }
    process.working_dir = request.working_dir;
    plan.processes.push_back(std::move(process));
  }
  const fs::path plan_file = launch.folder_ / "plan.json";
  if (absl::Status written = WriteFile(plan_file, SupervisorPlanJson(plan)); !written.ok()) {
    return written;
  }
  request.executable = launch.ranks_binary_;
  request.arguments = {"--kill-grace-ms", std::to_string(options.rank_kill_grace.count()),
                       plan_file.string()};
  return launch;
}

void DistributedLaunch::JudgeProcesses(RunOutcome& outcome) const {
  const bool own_failure =
      outcome.status == runyard::v1::FAILED &&
      outcome.error.code() == common::ToString(common::RunErrorCode::kUserError);
  if (!supervised_) {
    // The command itself, on one node of several: the message names the node and its log.
    if (own_failure && hostnames_.size() > 1) {
      std::string message = outcome.error.message();
      const std::string plain_log = common::NodeLogPath(0);
      if (const size_t at = message.find(plain_log); at != std::string::npos) {
        message.replace(at, plain_log.size(), common::NodeLogPath(node_rank_));
      }
      outcome.error.set_message(absl::StrCat("node ", node_rank_, " (host ",
                                             hostnames_[node_rank_], "): ", message));
    }
    return;
  }
  absl::StatusOr<SupervisorResult> result = ReadSupervisorResult(folder_ / "result.json");
  if (!result.ok()) return;  // runyard-ranks was killed: the outcome says how
  const bool per_process = plan_.mode == NodeLaunchPlan::Mode::kPerProcess;
  if (per_process) {
    for (const SupervisedResult& process : result->processes) {
      runyard::v1::RankResult& rank = outcome.ranks.emplace_back();
      rank.set_rank(process.rank);
      rank.set_started(process.started);
      rank.set_exited(process.exited);
      rank.set_exit_code(process.exit_code);
      rank.set_term_signal(process.term_signal);
      rank.set_ended_unix_ms(process.ended_unix_ms);
      rank.set_node_rank(process.node_rank);
      rank.set_local_rank(process.local_rank);
    }
  }
  // Only a failure of the processes' own making is blamed on one of them; a cancel, the
  // deadline or the memory limit keep their own error.
  if (!own_failure || result->first_failed < 0) return;
  const SupervisedResult& failed = result->processes[result->first_failed];
  const std::string host =
      failed.node_rank < static_cast<int>(hostnames_.size()) ? hostnames_[failed.node_rank] : "";
  const std::string who =
      per_process ? absl::StrCat("rank ", failed.rank, " (node ", failed.node_rank, ", host ",
                                 host, ")")
                  : absl::StrCat("node ", failed.node_rank, " (host ", host, ")");
  const std::string log =
      per_process ? common::RankLogPath(failed.rank) : common::NodeLogPath(failed.node_rank);
  std::string what;
  if (!failed.started) {
    what = absl::StrCat("could not be started: ", failed.start_error);
    outcome.exit_code = 127;
  } else if (failed.exited) {
    what = absl::StrCat("exited with code ", failed.exit_code);
    outcome.exit_code = failed.exit_code;
  } else {
    what = absl::StrCat("was killed by signal ", failed.term_signal, " (",
                        strsignal(failed.term_signal), ")");
    outcome.exit_code = 128 + failed.term_signal;
  }
  outcome.has_exit_code = true;
  outcome.error.set_message(absl::StrCat(who, " ", what, "; see ", log));
}

}  // namespace runyard::runtime
