// runyard-ranks [--kill-grace-ms N] PLAN.json: starts the processes of a distributed run's
// node and gives them one fate (runtime/ranks_supervisor.h). Its exit code is the first
// failed process's (128 + signal when one was killed), 0 when every one succeeded.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "runtime/ranks_supervisor.h"

namespace {

constexpr int kUsageError = 2;

int Usage(const std::string& problem) {
  std::cerr << "runyard-ranks: " << problem << "\n"
            << "usage: runyard-ranks [--kill-grace-ms N] PLAN.json\n";
  return kUsageError;
}

}  // namespace

int main(int argc, char** argv) {
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
