// runyard-ranks [--kill-grace-ms N] PLAN.json: starts the processes of a distributed run's
// node and gives them one fate (runtime/ranks_supervisor.h). Its exit code is the first
// failed process's (128 + signal when one was killed), 0 when every one succeeded.
//
// And the three parts of an MPI run across nodes (runtime/remote_exec.h, mpi_rank.h):
//   runyard-ranks --serve-remote-exec --port P --secret-file F [--started-file S]
//                 [--kill-grace-ms N]         node k > 0: runs the one command node 0 sends
//   runyard-ranks --rsh MAP HOST COMMAND...   node 0: mpirun's rsh agent, instead of ssh
//   runyard-ranks --mpi-rank -- COMMAND...    every node: one rank, in its node's folder
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "runtime/mpi_rank.h"
#include "runtime/ranks_supervisor.h"
#include "runtime/remote_exec.h"

namespace {

constexpr int kUsageError = 2;

int Usage(const std::string& problem) {
  std::cerr << "runyard-ranks: " << problem << "\n"
            << "usage: runyard-ranks [--kill-grace-ms N] PLAN.json\n"
            << "       runyard-ranks --serve-remote-exec --port P --secret-file F "
               "[--started-file S] [--kill-grace-ms N]\n"
            << "       runyard-ranks --rsh MAP HOST COMMAND...\n"
            << "       runyard-ranks --mpi-rank -- COMMAND...\n";
  return kUsageError;
}

// How long node 0 waits for node k to listen: it may still be preparing its environment.
constexpr std::chrono::minutes kRemoteConnectTimeout{10};

// mpirun's rsh agent: `MAP HOST COMMAND...`, the command's words joined as ssh joins them.
int RunRsh(int argc, char** argv) {
  if (argc < 4) return Usage("--rsh wants a node map, a host and a command");
  absl::StatusOr<runyard::runtime::RemoteNodeMap> map =
      runyard::runtime::ReadRemoteNodeMap(argv[2]);
  if (!map.ok()) return Usage(std::string(map.status().message()));
  const std::string host = argv[3];
  const auto node = map->nodes.find(host);
  if (node == map->nodes.end()) {
    std::cerr << "runyard-ranks: " << host << " is not a node of this run" << std::endl;
    return 255;
  }
  const std::vector<std::string> words(argv + 4, argv + argc);
  return runyard::runtime::RunRemoteCommand(node->second.address, node->second.port,
                                            map->secret, absl::StrJoin(words, " "),
                                            kRemoteConnectTimeout);
}

int ServeRemoteExec(int argc, char** argv) {
  runyard::runtime::RemoteExecServerOptions options;
  std::string secret_file;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return Usage(arg + " wants a value");
    const std::string value = argv[++i];
    try {
      if (arg == "--port") {
        options.port = std::stoi(value);
      } else if (arg == "--secret-file") {
        secret_file = value;
      } else if (arg == "--started-file") {
        options.started_file = value;
      } else if (arg == "--kill-grace-ms") {
        options.kill_grace = std::chrono::milliseconds(std::stoll(value));
      } else {
        return Usage("unknown option " + arg);
      }
    } catch (const std::exception&) {
      return Usage(arg + " wants a number, not '" + value + "'");
    }
  }
  std::ifstream in(secret_file);
  if (!in || !std::getline(in, options.secret) || options.secret.empty()) {
    return Usage("cannot read a secret from '" + secret_file + "'");
  }
  return runyard::runtime::ServeRemoteExec(options, std::cout);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "--rsh") return RunRsh(argc, argv);
  if (mode == "--serve-remote-exec") return ServeRemoteExec(argc, argv);
  if (mode == "--mpi-rank") {
    int first = 2;
    if (first < argc && std::string(argv[first]) == "--") ++first;
    return runyard::runtime::RunMpiRank(std::vector<std::string>(argv + first, argv + argc));
  }
  std::chrono::milliseconds kill_grace{10000};
  std::string plan_file;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--kill-grace-ms" && i + 1 < argc) {
      try {
        kill_grace = std::chrono::milliseconds(std::stoll(argv[++i]));
      } catch (const std::exception&) {
        return Usage(std::string("--kill-grace-ms wants a number of milliseconds, not '") +
                     argv[i] + "'");
      }
    } else if (!arg.empty() && arg[0] == '-') {
      return Usage("unknown option " + arg);
    } else if (plan_file.empty()) {
      plan_file = arg;
    } else {
      return Usage("one plan only");
    }
  }
  if (plan_file.empty()) return Usage("no plan given");
  std::ifstream in(plan_file, std::ios::binary);
  if (!in) return Usage("cannot read " + plan_file);
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<runyard::runtime::SupervisorPlan> plan =
      runyard::runtime::ParseSupervisorPlan(text.str());
  if (!plan.ok()) return Usage(plan_file + ": " + std::string(plan.status().message()));
  const runyard::runtime::SupervisorResult result =
      runyard::runtime::SuperviseProcesses(*plan, kill_grace, std::cout);
  return result.exit_code;
}
