#pragma once

// What a node of a distributed run does differently from a plain run (issue 16): its
// processes planned (rank_plan.h), the command line turned into runyard-ranks <plan> when
// it starts several of them, the rank logs' folder, and the ranks' fate judged at the end.

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/launcher.h"
#include "runtime/observer.h"
#include "runtime/rank_plan.h"
#include "runtime/ranks_supervisor.h"
#include "runyard/v1/services.pb.h"
#include "runyard/v1/spec.pb.h"
#include "sandbox/run_as.h"

namespace runyard::runtime {

struct DistributedLaunchOptions {
  // runyard-ranks; empty: found next to this process's binary (ranks_binary.h).
  std::filesystem::path ranks_binary;
  // GLOO_SOCKET_IFNAME / NCCL_SOCKET_IFNAME of every process (the agent's
  // network_interface); empty: not set, except on the local target, where it is "lo".
  std::string network_interface;
  // SIGTERM-to-SIGKILL grace of the other ranks once one failed; below the runner's.
  std::chrono::milliseconds rank_kill_grace{10000};
  std::optional<sandbox::RunAs> run_as;  // the folder below is given to that user
};

class DistributedLaunch {
 public:
  // Plans the node's processes for `spec` (distributed) at `placement` (nullptr: the local
  // target, every node here, ports found free) and rewrites `request`, set up for the
  // plain command, to start them: runyard-ranks <root>/ranks/plan.json when the node
  // starts several processes (a per-process launch, or the local target's nodes), else the
  // command itself with the node's variables (and mpirun in front for MPI).
  // FailedPrecondition: something the node lacks (runyard-ranks, mpirun, free ports).
  static absl::StatusOr<DistributedLaunch> Prepare(const runyard::v1::RunSpec& spec,
                                                   const runyard::v1::GangPlacement* placement,
                                                   const std::filesystem::path& run_root,
                                                   const DistributedLaunchOptions& options,
                                                   LaunchRequest& request);

  // Started through runyard-ranks' supervisor (else the process is the command itself,
  // mpirun, or the listener of an MPI run's node k > 0).
  bool supervised() const { return supervised_; }
  // folder() and runyard-ranks are used (a supervised node, any MPI node): the folder is
  // writable in the sandbox, the binary readable, logs_dir() mirrored as user_logs/.
  bool uses_folder() const { return supervised_ || plan_.mode == NodeLaunchPlan::Mode::kMpi; }
  // RUNNING once started_file() appears (every rank started, or node k's listener is up),
  // rather than once the process started.
  bool reports_started_file() const { return supervised_ || plan_.remote_exec_port > 0; }
  int node_rank() const { return node_rank_; }
  // <root>/ranks: the supervisor's plan, result and started files (writable in the sandbox).
  const std::filesystem::path& folder() const { return folder_; }
  // <root>/ranks/logs: the rank logs, mirrored into run history as user_logs/.
  std::filesystem::path logs_dir() const { return folder_ / "logs"; }
  // Created by runyard-ranks once every process started.
  std::filesystem::path started_file() const { return folder_ / "started"; }
  const std::filesystem::path& ranks_binary() const { return ranks_binary_; }
  // One line for the run's system log: the mode, this node's place, its processes.
  const std::string& description() const { return description_; }

  // Once the process ended: every rank's RankResult into `outcome` (a per-process launch),
  // and a failure of the run's own making blamed on the process that failed first: "rank 3
  // (node 1, host h1) exited with code 3; see user_logs/std_log_process_3.txt", its exit
  // code the run's.
  void JudgeProcesses(RunOutcome& outcome) const;

 private:
  // Finds runyard-ranks and makes folder() and logs_dir(), the run's user's.
  absl::Status MakeFolder(const DistributedLaunchOptions& options);
  // A file of the folder, readable by the run's user only.
  absl::Status WriteRunFile(const std::filesystem::path& file, const std::string& text,
                            const DistributedLaunchOptions& options) const;
  // MPI: mpirun (and, across nodes, its hostfile and node map) on node 0; the listener for
  // node 0's daemon command on node k > 0.
  absl::Status PrepareMpi(const runyard::v1::GangPlacement* gang,
                          const DistributedLaunchOptions& options, LaunchRequest& request);

  NodeLaunchPlan plan_;
  bool supervised_ = false;
  int node_rank_ = 0;
  std::vector<std::string> hostnames_;  // by node rank
  std::filesystem::path folder_;
  std::filesystem::path ranks_binary_;
  std::string description_;
};

}  // namespace runyard::runtime
