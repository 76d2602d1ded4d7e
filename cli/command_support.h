#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "cli/access_client.h"
#include "cli/backend.h"
#include "cli/commands.h"
#include "cli/local_backend.h"
#include "cli/remote_backend.h"
#include "cli/run_summary.h"

namespace runyard::cli {

// What every command does with an error: one line on stderr, and the exit code
// (2 for bad input such as an unknown run or path, 1 otherwise).
int Fail(const absl::Status& status);

// Whether a command should talk to a server: one is named, or the credentials file that
// would name it could not be read (then connecting says why).
bool HasServer(const GlobalOptions& global);

// The server's backend; fails when the connection could not be worked out (a bad
// credentials file or --token-file). Makes no connection yet.
absl::StatusOr<std::unique_ptr<RemoteBackend>> ConnectServer(const GlobalOptions& global);
// The same for the server's Access service (tokens, audit, whoami).
absl::StatusOr<std::unique_ptr<AccessClient>> ConnectAccess(const GlobalOptions& global);

// What to say when a command needs a server and none is named.
inline constexpr const char* kNameAServer = "pass --server, set RUNYARD_SERVER or run runyard login";

// The local store ($RUNYARD_HOME).
absl::StatusOr<std::unique_ptr<LocalBackend>> OpenLocal();

// The backend that knows `run_id`: the local store first, then the server if one is set.
absl::StatusOr<std::unique_ptr<RunBackend>> BackendForRun(const GlobalOptions& global, const std::string& run_id);

// Output of a script may be any bytes: invalid UTF-8 is replaced, never fatal.
void PrintJson(const nlohmann::json& json, int indent = 2);

// The end-of-run summary for `run` (the run as ended): reads the run's file listing to
// count its outputs, and says where they are: the local folder for a local run, else the
// command that downloads them.
RunSummary SummaryFor(RunBackend& backend, const GlobalOptions& global, const runyard::v1::Run& run);

}  // namespace runyard::cli
