#pragma once

// runyard-ranks: the small supervisor a node of a distributed run executes instead of the
// script when it starts several processes (ranks) itself. From the runner's point of view
// it is the run's one process (contained, sandboxed, under the deadline); it starts every
// rank in a process group of its own with its output in the rank's log file, and gives the
// ranks one fate: the first to end unsuccessfully gets the others SIGTERMed (SIGKILLed
// after a grace). What happened to each rank is written to a result file for the runner.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace runyard::runtime {

// One process of the plan.
struct SupervisedProcess {
  std::string label;  // how the supervisor's lines name it: "rank 3", "node 1"
  int rank = 0;
  int node_rank = 0;
  int local_rank = 0;
  std::vector<std::string> argv;                   // argv[0]: the executable, absolute
  std::map<std::string, std::string> environment;  // added to the supervisor's own
  std::filesystem::path log_file;  // stdout and stderr, appended; empty: the supervisor's stdout
  std::filesystem::path working_dir;
};

// What runyard-ranks is given (a JSON file, written by the runner).
struct SupervisorPlan {
  std::vector<SupervisedProcess> processes;
  std::vector<int> successful_return_codes;  // empty: {0}
  std::filesystem::path result_file;         // written once every process is gone
  std::filesystem::path started_file;        // created once every process started (empty: none)
};

// How one process ended.
struct SupervisedResult {
  int rank = 0;
  int node_rank = 0;
  int local_rank = 0;
  bool started = false;
  std::string start_error;
  bool exited = false;  // by itself, with exit_code
  int exit_code = 0;
  int term_signal = 0;  // killed by this signal
  int64_t ended_unix_ms = 0;
};

struct SupervisorResult {
  std::vector<SupervisedResult> processes;  // in the plan's order
  int first_failed = -1;  // index into processes of the first to end unsuccessfully; -1: none
  // The supervisor's own exit code: the first failed process's (128 + signal when killed),
  // 0 when none failed.
  int exit_code = 0;
  bool stopped_from_outside = false;  // a SIGTERM or SIGINT reached the supervisor
};

std::string SupervisorPlanJson(const SupervisorPlan& plan);
absl::StatusOr<SupervisorPlan> ParseSupervisorPlan(const std::string& json);
std::string SupervisorResultJson(const SupervisorResult& result);
absl::StatusOr<SupervisorResult> ParseSupervisorResult(const std::string& json);

// Reads and parses the file (errors name it).
absl::StatusOr<SupervisorResult> ReadSupervisorResult(const std::filesystem::path& file);

// Runs the plan to its end: starts every process, forwards SIGTERM and SIGINT sent to this
// process to all of them, stops the others once one fails (SIGTERM, SIGKILL after
// `kill_grace`), waits for all, kills what is left of their process groups, and writes
// the result file. One line per notable event goes to `events`. This process must have no
// other children and no other threads (it is runyard-ranks' main).
SupervisorResult SuperviseProcesses(const SupervisorPlan& plan, std::chrono::milliseconds kill_grace,
                                    std::ostream& events);

}  // namespace runyard::runtime
