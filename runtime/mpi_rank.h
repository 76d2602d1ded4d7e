#pragma once

// runyard-ranks --mpi-rank -- COMMAND...: what mpirun starts for each rank of an MPI run
// (issue 16). Open MPI starts a rank in mpirun's working directory and sends its output to
// node 0 only; this wrapper, run by the rank's own node, moves it to that node's working
// directory and copies its output, live, to user_logs/std_log_process_<rank>.txt of that
// node as well as to mpirun (node 0's main log). Each node says where through its
// environment (the listener's on node k, which orted and its ranks inherit).

#include <string>
#include <vector>

namespace runyard::runtime {

// The node's working directory, where the rank starts (unset: where mpirun put it).
inline constexpr char kMpiWorkingDirVariable[] = "RUNYARD_MPI_WORKING_DIR";
// The node's rank log folder, mirrored as user_logs/ (unset: no rank log).
inline constexpr char kMpiRankLogDirVariable[] = "RUNYARD_MPI_RANK_LOG_DIR";

// Runs `command` (argv) as the rank and returns what this process should exit with: the
// command's exit code, 127 when it cannot start. When the command is killed by a signal,
// this process kills itself with the same signal (mpirun reports it as such). SIGTERM,
// SIGINT and SIGHUP are passed on.
int RunMpiRank(const std::vector<std::string>& command);

}  // namespace runyard::runtime
