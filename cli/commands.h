#pragma once

#include <optional>
#include <string>

#include <vector>

#include "absl/status/statusor.h"
#include "cli/run_filters.h"
#include "cli/server_connection.h"
#include "cli/submission.h"
#include "runyard/v1/services.pb.h"

namespace runyard::cli {

// Options every command shares.
struct GlobalOptions {
  // The server commands talk to (connection.server): --server, RUNYARD_SERVER or the
  // credentials file; empty: local only.
  std::string server;
  bool json = false;
  ServerConnection connection;  // how to reach it: TLS, the token
};

struct SubmitOptions {
  SubmitFlags flags;
  bool wait = false;
  bool show_output = false;
  int kill_grace_seconds = 30;  // local runs: SIGTERM-to-SIGKILL grace
};

// Each returns the process exit code: 0 fine, 1 failed / run did not complete, 2 bad input.
int SubmitCommand(const GlobalOptions& global, const SubmitOptions& options);
int StatusCommand(const GlobalOptions& global, const std::string& run_id);
// `runyard list`: the local store's runs and, with --server, the server's, newest first,
// filtered by `flags`; children under their parent.
int ListCommand(const GlobalOptions& global, const ListFlags& flags);

struct MetricsOptions {
  std::string run_id;
  std::string name;     // --name: that series' values
  bool follow = false;  // -f: until the run ends
  int rank = -1;        // --rank: only the values that rank of a distributed run logged
};
// `runyard metrics RUN`: the run's metric series (table with sparklines, values, JSON).
int MetricsCommand(const GlobalOptions& global, const MetricsOptions& options);

// `runyard show RUN`: the run's details (Azure's get_details).
int ShowCommand(const GlobalOptions& global, const std::string& run_id);

struct TagOptions {
  std::string run_id;
  std::vector<std::string> tags;    // KEY=VALUE, or KEY (value "")
  std::vector<std::string> remove;  // --remove KEY
};
// The request `runyard tag` sends; InvalidArgument naming what is wrong with the flags.
absl::StatusOr<runyard::v1::SetTagsRequest> BuildSetTagsRequest(const TagOptions& options);
int TagCommand(const GlobalOptions& global, const TagOptions& options);

// `runyard experiments [--archived]`, `runyard experiment archive|unarchive NAME`.
int ExperimentsCommand(const GlobalOptions& global, bool include_archived);
int ExperimentArchiveCommand(const GlobalOptions& global, const std::string& name, bool archived);

struct LogsOptions {
  std::string run_id;
  bool follow = false;  // print until the run ends, then its summary
  // Which log (cli/log_selection.h); -1: not given. Neither: the run's default log.
  int rank = -1;  // a rank's user_logs/std_log_process_<rank>.txt
  int node = -1;  // a node's main log: user_logs/std_log.txt, std_log_node_<k>.txt
  bool all = false;  // every rank's, each line prefixed "[rank N] "
};
int LogsCommand(const GlobalOptions& global, const LogsOptions& options);

// `runyard files RUN`: each file's size and whether its upload is complete.
int FilesCommand(const GlobalOptions& global, const std::string& run_id);

struct DownloadOptions {
  std::string run_id;
  std::string path;                   // a file, or a folder (outputs/)
  std::optional<std::string> prefix;  // --prefix: every file whose path starts with it
  std::string destination;            // -o: a file (single file) or a folder
};
int DownloadCommand(const GlobalOptions& global, const DownloadOptions& options);

int CancelCommand(const GlobalOptions& global, const std::string& run_id);

struct AgentsOptions {
  std::string pool;          // --pool: only this pool
  bool all = false;          // --all: offline agents too (left as planned, or restarted)
};
// `runyard agents`: the server's agents with their state, capabilities and runs.
int AgentsCommand(const GlobalOptions& global, const AgentsOptions& options);
struct LoginOptions {
  ConnectionFlags flags;     // --server, --token-file, --ca-file, --insecure (login's or the global ones)
  bool token_stdin = false;  // --token-stdin: the token is the first line of stdin
};
// `runyard login`: checks the token with the server (WhoAmI), then keeps server, token
// and TLS settings in the credentials file (0600) for later commands.
int LoginCommand(const GlobalOptions& global, const LoginOptions& options);
// `runyard logout`: removes the credentials file (the token stays valid until revoked).
int LogoutCommand(const GlobalOptions& global);
// `runyard whoami`: the token the CLI presents: kind, id, name, role, where it came from.
int WhoAmICommand(const GlobalOptions& global);

struct TokenCreateOptions {
  std::string name;
  std::string role;         // --role admin|user|reader: a user token
  bool join = false;        // --join: a join token for agents
  std::string pool;         // --pool with --join: only this pool ("" any)
  std::string ttl;          // --ttl 30d; empty: never expires
  std::string output_file;  // --output-file: written 0600 instead of printed
};
// The request `runyard tokens create` sends; InvalidArgument naming what is wrong with the flags.
absl::StatusOr<runyard::v1::CreateTokenRequest> BuildCreateTokenRequest(const TokenCreateOptions& options);
// `runyard tokens create|list|revoke` (admin).
int TokensCreateCommand(const GlobalOptions& global, const TokenCreateOptions& options);
int TokensListCommand(const GlobalOptions& global, bool include_revoked);
int TokensRevokeCommand(const GlobalOptions& global, const std::string& token_id);

struct AuditOptions {
  std::string target;  // --target: only events about this run / token / agent
  int limit = 100;     // --limit
};
// `runyard audit`: who did what, newest first.
int AuditCommand(const GlobalOptions& global, const AuditOptions& options);

// `runyard snapshot upload [--source-directory DIR]`: what submit uploads, without a run.
int SnapshotUploadCommand(const GlobalOptions& global, const SubmitFlags& flags, const std::string& target);
// `runyard snapshot download RUN -o FILE`: the run's snapshot as a tar.gz.
int SnapshotDownloadCommand(const GlobalOptions& global, const std::string& run_id, const std::string& output);
// Hidden: executes a queued local run in the background (submit without --wait).
int ExecuteLocalCommand(const std::string& run_id, int kill_grace_seconds);

}  // namespace runyard::cli
