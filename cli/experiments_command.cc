// `runyard experiments [--archived]` and `runyard experiment archive|unarchive NAME`:
// experiments of the local store and, with --server, of the server. Archiving hides an
// experiment's runs from lists; nothing is deleted.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "cli/command_support.h"
#include "cli/commands.h"
#include "cli/experiment_listing.h"
#include "cli/remote_backend.h"

namespace runyard::cli {
namespace {

absl::StatusOr<bool> HasExperiment(RunBackend& backend, const std::string& name) {
  absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>> all = backend.ListExperiments(true);
  if (!all.ok()) return all.status();
  return std::any_of(all->begin(), all->end(), [&](const auto& one) { return one.name() == name; });
}

}  // namespace

int ExperimentsCommand(const GlobalOptions& global, bool include_archived) {
  std::vector<ListedExperiment> listed;
  absl::StatusOr<std::unique_ptr<LocalBackend>> local = OpenLocal();
  if (!local.ok()) return Fail(local.status());
  absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>> found =
      (*local)->ListExperiments(include_archived);
  if (!found.ok()) return Fail(found.status());
  for (auto& info : *found) listed.push_back({std::move(info), "local"});
  if (HasServer(global)) {
    absl::StatusOr<std::unique_ptr<RemoteBackend>> remote = ConnectServer(global);
    if (!remote.ok()) return Fail(remote.status());
    absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>> remote_found =
        (*remote)->ListExperiments(include_archived);
    if (!remote_found.ok()) return Fail(remote_found.status());
    for (auto& info : *remote_found) listed.push_back({std::move(info), global.server});
  }
  if (global.json) {
    PrintJson(ExperimentsToJson(listed));
  } else if (listed.empty()) {
    std::cerr << "runyard: no experiments"
              << (include_archived ? "" : " (archived ones show with --archived)") << "\n";
  } else {
    std::cout << ExperimentTable(listed) << std::flush;
  }
  return 0;
}

int ExperimentArchiveCommand(const GlobalOptions& global, const std::string& name, bool archived) {
  if (name.empty()) return Fail(absl::InvalidArgumentError("give the experiment's NAME"));
  // The store that has it: the local one first, then the server (as for runs).
  std::unique_ptr<RunBackend> backend;
  std::string store = "local";
  absl::StatusOr<std::unique_ptr<LocalBackend>> local = OpenLocal();
  if (!local.ok()) return Fail(local.status());
  absl::StatusOr<bool> here = HasExperiment(**local, name);
  if (!here.ok()) return Fail(here.status());
  if (*here) {
    backend = std::move(*local);
  } else if (HasServer(global)) {
    absl::StatusOr<std::unique_ptr<RemoteBackend>> remote = ConnectServer(global);
    if (!remote.ok()) return Fail(remote.status());
    backend = std::move(*remote);
    store = global.server;
  } else {
    return Fail(absl::NotFoundError(
        absl::StrCat("no experiment named '", name, "' in the local store (",
                     LocalBackend::DefaultHome().string(),
                     "); for a pool's experiment ", kNameAServer)));
  }
  absl::StatusOr<runyard::v1::ExperimentInfo> info = backend->SetExperimentArchived(name, archived);
  if (!info.ok()) return Fail(info.status());
  if (global.json) {
    PrintJson(ExperimentsToJson({{*info, store}}).front());
  } else {
    std::cout << "experiment " << info->name() << " "
              << (info->archived() ? "archived" : "unarchived") << " (" << info->run_count()
              << (info->run_count() == 1 ? " run" : " runs")
              << (info->archived()
                      ? ", hidden from lists; runyard experiment unarchive " + info->name()
                      : ", listed again")
              << ")\n";
  }
  return 0;
}

}  // namespace runyard::cli
