// The files runyard-ranks shares with the runner: its plan and its result (JSON).
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "runtime/ranks_supervisor.h"

namespace runyard::runtime {
using nlohmann::json;

std::string SupervisorPlanJson(const SupervisorPlan& plan) {
  json processes = json::array();
  for (const SupervisedProcess& process : plan.processes) {
    processes.push_back({{"label", process.label},
                         {"rank", process.rank},
                         {"node_rank", process.node_rank},
                         {"local_rank", process.local_rank},
                         {"argv", process.argv},
                         {"environment", process.environment},
                         {"log_file", process.log_file.string()},
                         {"working_dir", process.working_dir.string()}});
  }
  return json{{"processes", processes},
              {"successful_return_codes", plan.successful_return_codes},
              {"result_file", plan.result_file.string()},
              {"started_file", plan.started_file.string()}}
      .dump(2);
}

absl::StatusOr<SupervisorPlan> ParseSupervisorPlan(const std::string& text) {
  try {
    const json document = json::parse(text);
    SupervisorPlan plan;
    for (const json& entry : document.at("processes")) {
      SupervisedProcess process;
      process.label = entry.value("label", "");
      process.rank = entry.value("rank", 0);
      process.node_rank = entry.value("node_rank", 0);
      process.local_rank = entry.value("local_rank", 0);
      process.argv = entry.at("argv").get<std::vector<std::string>>();
      process.environment =
          entry.value("environment", std::map<std::string, std::string>{});
      process.log_file = entry.value("log_file", "");
      process.working_dir = entry.value("working_dir", "");
      if (process.argv.empty()) {
        return absl::InvalidArgumentError("process " + std::to_string(process.rank) +
                                          " of the plan has an empty argv");
      }
      if (process.label.empty()) process.label = "rank " + std::to_string(process.rank);
      plan.processes.push_back(std::move(process));
    }
    plan.successful_return_codes =
        document.value("successful_return_codes", std::vector<int>{});
    plan.result_file = document.value("result_file", "");
    plan.started_file = document.value("started_file", "");
    if (plan.processes.empty()) return absl::InvalidArgumentError("the plan has no process");
    return plan;
  } catch (const json::exception& error) {
    return absl::InvalidArgumentError(std::string("not a runyard-ranks plan: ") + error.what());
  }
}

std::string SupervisorResultJson(const SupervisorResult& result) {
  json ranks = json::array();
  for (const SupervisedResult& process : result.processes) {
    ranks.push_back({{"rank", process.rank},
                     {"node_rank", process.node_rank},
                     {"local_rank", process.local_rank},
                     {"started", process.started},
                     {"start_error", process.start_error},
                     {"exited", process.exited},
                     {"exit_code", process.exit_code},
                     {"term_signal", process.term_signal},
                     {"ended_unix_ms", process.ended_unix_ms}});
  }
  json document = {{"ranks", ranks},
                   {"exit_code", result.exit_code},
                   {"stopped_from_outside", result.stopped_from_outside}};
  document["first_failed_rank"] =
      result.first_failed >= 0 ? json(result.processes[result.first_failed].rank) : json(nullptr);
  document["first_failed_index"] = result.first_failed;
  return document.dump(2);
}

absl::StatusOr<SupervisorResult> ParseSupervisorResult(const std::string& text) {
  try {
    const json document = json::parse(text);
    SupervisorResult result;
    for (const json& entry : document.at("ranks")) {
      SupervisedResult process;
      process.rank = entry.at("rank").get<int>();
      process.node_rank = entry.value("node_rank", 0);
      process.local_rank = entry.value("local_rank", 0);
      process.started = entry.value("started", false);
      process.start_error = entry.value("start_error", "");
      process.exited = entry.value("exited", false);
      process.exit_code = entry.value("exit_code", 0);
      process.term_signal = entry.value("term_signal", 0);
      process.ended_unix_ms = entry.value("ended_unix_ms", int64_t{0});
      result.processes.push_back(std::move(process));
    }
    result.exit_code = document.value("exit_code", 0);
    result.stopped_from_outside = document.value("stopped_from_outside", false);
    result.first_failed = document.value("first_failed_index", -1);
    if (result.first_failed >= static_cast<int>(result.processes.size())) {
      return absl::InvalidArgumentError("first_failed_index is past the ranks");
    }
    return result;
  } catch (const json::exception& error) {
    return absl::InvalidArgumentError(std::string("not a runyard-ranks result: ") + error.what());
  }
}

absl::StatusOr<SupervisorResult> ReadSupervisorResult(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read " + file.string());
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<SupervisorResult> result = ParseSupervisorResult(text.str());
  if (!result.ok()) {
    return absl::InvalidArgumentError(file.string() + ": " + std::string(result.status().message()));
  }
  return result;
}

}  // namespace runyard::runtime
