#include "cli/command_support.h"

#include <iostream>

#include "absl/strings/str_cat.h"
#include "cli/remote_backend.h"
#include "cli/run_summary.h"

namespace runyard::cli {

int Fail(const absl::Status& status) {
  std::cerr << "runyard: " << status.message() << "\n";
  return absl::IsInvalidArgument(status) || absl::IsNotFound(status) ? 2 : 1;
}

bool HasServer(const GlobalOptions& global) {
  return !global.server.empty() || !global.connection.problem.ok();
}

namespace {

absl::Status CheckConnection(const GlobalOptions& global) {
  if (!global.connection.problem.ok()) return global.connection.problem;
  if (global.server.empty()) return absl::InvalidArgumentError(std::string("no server: ") + kNameAServer);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<RemoteBackend>> ConnectServer(const GlobalOptions& global) {
  if (absl::Status ok = CheckConnection(global); !ok.ok()) return ok;
  return std::make_unique<RemoteBackend>(global.connection);
}

absl::StatusOr<std::unique_ptr<AccessClient>> ConnectAccess(const GlobalOptions& global) {
  if (absl::Status ok = CheckConnection(global); !ok.ok()) return ok;
  return std::make_unique<AccessClient>(global.connection);
}

absl::StatusOr<std::unique_ptr<LocalBackend>> OpenLocal() { return LocalBackend::Open(LocalBackend::DefaultHome()); }

absl::StatusOr<std::unique_ptr<RunBackend>> BackendForRun(const GlobalOptions& global, const std::string& run_id) {
  absl::StatusOr<std::unique_ptr<LocalBackend>> local = OpenLocal();
  if (local.ok() && (*local)->HasRun(run_id)) return std::unique_ptr<RunBackend>(std::move(*local));
  if (HasServer(global)) {
    absl::StatusOr<std::unique_ptr<RemoteBackend>> remote = ConnectServer(global);
    if (!remote.ok()) return remote.status();
    return std::unique_ptr<RunBackend>(std::move(*remote));
  }
  return absl::NotFoundError(absl::StrCat("run '", run_id, "' not found in the local store (",
                                          LocalBackend::DefaultHome().string(), "); for a run on a pool ",
                                          kNameAServer));
}

void PrintJson(const nlohmann::json& json, int indent) {
  std::cout << json.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
}

RunSummary SummaryFor(RunBackend& backend, const GlobalOptions& global, const runyard::v1::Run& run) {
  // Without a listing the summary still stands; it just cannot count the outputs.
  absl::StatusOr<std::vector<runyard::v1::FileInfo>> files = backend.ListFiles(run.run_id());
  std::string location;
  if (auto* local = dynamic_cast<LocalBackend*>(&backend); local != nullptr) {
    location = (local->history_dir(run.run_id()) / "outputs").string();
  } else {
    location = DownloadOutputsCommand(run.run_id(), global.server);
  }
  RunSummary summary = SummarizeRun(run, files.ok() ? *files : std::vector<runyard::v1::FileInfo>{}, location);
  summary.outputs_counted = files.ok();
  return summary;
}

}  // namespace runyard::cli
