#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runyard/v1/run.pb.h"

namespace runyard::cli {

// An experiment and the store holding it: "local" or the server's address.
struct ListedExperiment {
  runyard::v1::ExperimentInfo info;
  std::string store;
};

// NAME RUNS LAST RUN ARCHIVED STORE, by name.
std::string ExperimentTable(std::vector<ListedExperiment> experiments);
// [{name, runs, last_run (null without runs), created, archived, store}]
nlohmann::json ExperimentsToJson(const std::vector<ListedExperiment>& experiments);

}  // namespace runyard::cli
