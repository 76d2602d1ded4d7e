#pragma once

#include <optional>
#include <string>

#include "cli/submission.h"

namespace runyard::cli {

// Options every command shares.
struct GlobalOptions {
  std::string server;  // --server or RUNYARD_SERVER; empty: local only
  bool json = false;
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
int ListCommand(const GlobalOptions& global, const std::string& experiment, int limit);

struct LogsOptions {
  std::string run_id;
  bool follow = false;  // print until the run ends, then its summary
  int rank = 0;         // 0: user_logs/std_log.txt; N: user_logs/std_log_rank_N.txt
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
// `runyard snapshot upload [--source-directory DIR]`: what submit uploads, without a run.
int SnapshotUploadCommand(const GlobalOptions& global, const SubmitFlags& flags, const std::string& target);
// `runyard snapshot download RUN -o FILE`: the run's snapshot as a tar.gz.
int SnapshotDownloadCommand(const GlobalOptions& global, const std::string& run_id, const std::string& output);
// Hidden: executes a queued local run in the background (submit without --wait).
int ExecuteLocalCommand(const std::string& run_id, int kill_grace_seconds);

}  // namespace runyard::cli
