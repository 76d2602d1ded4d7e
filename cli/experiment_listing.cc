#include "cli/experiment_listing.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/render.h"

namespace runyard::cli {

std::string ExperimentTable(std::vector<ListedExperiment> experiments) {
  std::sort(experiments.begin(), experiments.end(), [](const auto& a, const auto& b) {
    return a.info.name() != b.info.name() ? a.info.name() < b.info.name() : a.store < b.store;
  });
  size_t name_width = 10;
  for (const auto& experiment : experiments)
    name_width = std::max(name_width, experiment.info.name().size());
  auto row = [&](const std::string& name, const std::string& runs, const std::string& last,
                 const std::string& archived, const std::string& store) {
    std::string line = absl::StrFormat("%-*s  %6s  %-24s  %-8s  %s", static_cast<int>(name_width),
                                       name, runs, last, archived, store);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    return line + "\n";
  };
  std::string text = row("EXPERIMENT", "RUNS", "LAST RUN", "ARCHIVED", "STORE");
  for (const auto& [info, store] : experiments) {
    absl::StrAppend(&text, row(info.name(), absl::StrCat(info.run_count()),
                               info.last_run_unix_ms() > 0 ? IsoTime(info.last_run_unix_ms()) : "-",
                               info.archived() ? "yes" : "no", store));
  }
  return text;
}

nlohmann::json ExperimentsToJson(const std::vector<ListedExperiment>& experiments) {
  nlohmann::json json = nlohmann::json::array();
  for (const auto& [info, store] : experiments) {
    json.push_back(
        {{"name", info.name()},
         {"runs", info.run_count()},
         {"last_run", info.last_run_unix_ms() > 0 ? nlohmann::json(IsoTime(info.last_run_unix_ms()))
                                                  : nlohmann::json(nullptr)},
         {"created", IsoTime(info.created_unix_ms())},
         {"archived", info.archived()},
         {"store", store}});
  }
  return json;
}

}  // namespace runyard::cli
