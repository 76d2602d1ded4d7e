// runyard: submit runs, watch them, fetch what they produced.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/credentials_file.h"
#include "cli/server_connection.h"
#include "common/logging.h"

using namespace runyard;

namespace {

// Parses the command line and runs the command; its exit code.
int ParseAndRun(int argc, char** argv) {
  // Everything after the first "--" belongs to the script, untouched.
  std::vector<std::string> script_arguments;
  bool arguments_given = false;
  int own_argc = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) {
      own_argc = i;
      arguments_given = true;
      script_arguments.assign(argv + i + 1, argv + argc);
      break;
    }
  }
  // The embedded control plane's own log lines are for operators, not CLI users.
  common::SetLogLevel("error");

  CLI::App app{"runyard: run training scripts locally or on a pool of runyard agents"};
  app.require_subcommand(1);
  app.fallthrough();
  cli::GlobalOptions global;
  cli::ConnectionFlags connection;
  app.add_option("--server", connection.server, "runyard-server address (host:port; else RUNYARD_SERVER, else runyard login's)");
  app.add_option("--token-file", connection.token_file, "file holding the token (else RUNYARD_TOKEN, else runyard login's)");
  app.add_option("--ca-file", connection.ca_file, "CA the server's certificate must be signed by (else RUNYARD_CA_FILE)");
  app.add_flag("--insecure", connection.insecure, "plaintext, no TLS (a loopback test server; else RUNYARD_INSECURE=1)");
  app.add_flag("--json", global.json, "print JSON instead of text");

  cli::SubmitOptions submit;
  auto add_limit_options = [&](CLI::App* command) {
    command->add_option("--max-snapshot-mb", submit.flags.max_snapshot_mb,
                        "largest snapshot to accept (default: the store's, 300 MB)")->check(CLI::PositiveNumber);
    command->add_option("--max-snapshot-files", submit.flags.max_snapshot_files,
                        "most files in a snapshot (default: the store's, 2000)")->check(CLI::PositiveNumber);
  };
  auto add_submit_options = [&](CLI::App* command) {
    auto& f = submit.flags;
    command->add_option("spec", f.spec_file, "run spec (YAML, fields as in ScriptRunConfig)");
    command->add_option("--source-directory", f.source_directory, "folder to snapshot (default: the spec's, else .)");
    command->add_option("--script", f.script, "script to run, relative to the source directory");
    command->add_option("--target,--compute-target", f.target, "local (default) or a pool name");
    command->add_option("--experiment", f.experiment, "experiment name");
    command->add_option("--max-run-duration-seconds", f.max_run_duration_seconds, "deadline; the run is canceled after it");
    command->add_option("--interpreter", f.interpreter, "python interpreter to use (user-managed)");
    command->add_option("-e,--env", f.environment_variables, "NAME=VALUE for the script's environment");
    command->add_option("--kill-grace-seconds", submit.kill_grace_seconds, "local runs: SIGTERM-to-SIGKILL grace");
    add_limit_options(command);
  };
  CLI::App* submit_cmd = app.add_subcommand("submit", "submit a run (script arguments after --)");
  add_submit_options(submit_cmd);
  submit_cmd->add_flag("--wait", submit.wait, "wait until the run ends; exit non-zero unless Completed");
  submit_cmd->add_flag("--show-output", submit.show_output, "with --wait: print the script's output live");
  CLI::App* run_cmd = app.add_subcommand("run", "submit, show the output live and wait (= submit --wait --show-output)");
  add_submit_options(run_cmd);

  std::string run_id;
  CLI::App* status_cmd = app.add_subcommand("status", "a run's status, exit code, error and history");
  status_cmd->add_option("run", run_id, "run id")->required();

  cli::ListFlags list;
  CLI::App* list_cmd = app.add_subcommand(
      "list", "recent runs, newest first; a child run right under its parent, indented");
  list_cmd->add_option("--experiment", list.experiment, "only this experiment (archived or not)");
  list_cmd->add_option("--limit", list.limit, "at most this many runs (default 50)");
  list_cmd->add_option("--tag", list.tags, "only runs with this tag: KEY=VALUE, or KEY for any value (repeatable)")
      ->allow_extra_args(false);  // one value each time: `--remove a x=1` sets x
  list_cmd->add_option("--property", list.properties,
                       "only runs with this property: KEY=VALUE, or KEY for any value (repeatable)")
      ->allow_extra_args(false);  // one value each time: `--remove a x=1` sets x
  list_cmd->add_option("--status", list.status,
                       "only runs in this status, as runyard prints it (Running, Completed, Failed, ...; any case)");
  list_cmd->add_option("--parent", list.parent, "only the child runs of this run");
  list_cmd->add_flag("--children", list.children,
                     "also child runs, each under its parent (left out by default)");
  list_cmd->add_flag("--archived", list.archived, "also runs of archived experiments");

  cli::MetricsOptions metrics;
  CLI::App* metrics_cmd = app.add_subcommand(
      "metrics", "the run's metrics: per series its kind, count, last value, min, max and a sparkline");
  metrics_cmd->add_option("run", metrics.run_id, "run id")->required();
  metrics_cmd->add_option("--name", metrics.name, "only this series: every value with its step and time");
  metrics_cmd->add_option("--rank", metrics.rank,
                          "only the values this rank of a distributed run logged (RANK, "
                          "OMPI_COMM_WORLD_RANK)")
      ->check(CLI::NonNegativeNumber);
  metrics_cmd->add_flag("-f,--follow", metrics.follow,
                        "follow a live run until it ends (polls every 250 ms): the table redrawn, or with "
                        "--name new values as they come; with --json one JSON line per new value");
  metrics_cmd->footer("--json prints one document: {run_id, series: [{name, kind, count, min, max, last, "
                      "values: [{seq, step, value, time, kind, rank}]}]}, every value of every series (rank: "
                      "only on a distributed run's values; with --rank N only that rank's, "
                      "the document saying \"rank\": N)");

  CLI::App* show_cmd = app.add_subcommand(
      "show", "the run's details: definition, status history and timings, parent and children, tags, "
              "properties, usage, log files, outputs");
  show_cmd->add_option("run", run_id, "run id")->required();

  cli::TagOptions tag;
  CLI::App* tag_cmd = app.add_subcommand("tag", "set or remove tags of a run, then print its tags");
  tag_cmd->add_option("run", tag.run_id, "run id")->required();
  tag_cmd->add_option("tags", tag.tags, "KEY=VALUE, or KEY for an empty value");
  tag_cmd->add_option("--remove", tag.remove, "remove this tag (repeatable)")
      ->allow_extra_args(false);  // one value each time: `--remove a x=1` sets x

  bool experiments_archived = false;
  CLI::App* experiments_cmd =
      app.add_subcommand("experiments", "experiments: runs, last run, archived (archived ones only with --archived)");
  experiments_cmd->add_flag("--archived", experiments_archived, "also archived experiments");
  CLI::App* experiment_cmd = app.add_subcommand("experiment", "archive or unarchive an experiment");
  experiment_cmd->require_subcommand(1);
  std::string experiment_name;
  CLI::App* archive_cmd = experiment_cmd->add_subcommand(
      "archive", "hide the experiment and its runs from lists (nothing is deleted)");
  archive_cmd->add_option("name", experiment_name, "experiment name")->required();
  CLI::App* unarchive_cmd = experiment_cmd->add_subcommand("unarchive", "list the experiment and its runs again");
  unarchive_cmd->add_option("name", experiment_name, "experiment name")->required();

  cli::LogsOptions logs;
  CLI::App* logs_cmd = app.add_subcommand(
      "logs", "the run's output: user_logs/std_log.txt, or rank 0's user_logs/std_log_process_0.txt for a "
              "distributed run that starts every rank itself");
  logs_cmd->add_option("run", logs.run_id, "run id")->required();
  logs_cmd->add_flag("-f,--follow", logs.follow,
                     "print live until the run ends, then a summary (status, duration, error, exit code, "
                     "outputs) on stderr");
  CLI::Option* rank_option =
      logs_cmd
          ->add_option("--rank", logs.rank,
                       "a distributed run's rank N: user_logs/std_log_process_N.txt (the default is rank 0; "
                       "a run that is not distributed has only rank 0, user_logs/std_log.txt)")
          ->check(CLI::NonNegativeNumber);
  CLI::Option* node_option =
      logs_cmd
          ->add_option("--node", logs.node,
                       "a distributed run's node K: its main log (user_logs/std_log.txt for node 0, "
                       "user_logs/std_log_node_K.txt for the others)")
          ->check(CLI::NonNegativeNumber);
  logs_cmd->add_flag("--all", logs.all,
                     "every rank's log (every node's when the ranks keep none of their own), in rank "
                     "order, each line prefixed \"[rank N] \"; with -f as the lines arrive")
      ->excludes(rank_option)
      ->excludes(node_option);
  rank_option->excludes(node_option);

  CLI::App* files_cmd = app.add_subcommand(
      "files", "files in the run's history (outputs/, logs/, ...): size, and whether the upload is complete");
  files_cmd->add_option("run", run_id, "run id")->required();

  cli::DownloadOptions download;
  std::string download_prefix;
  CLI::App* download_cmd = app.add_subcommand(
      "download", "download a file of a run, or every file under a prefix (keeping its run path below -o DIR)");
  download_cmd->add_option("run", download.run_id, "run id")->required();
  CLI::Option* path_option =
      download_cmd->add_option("path", download.path, "file or folder, e.g. outputs/model.npz or outputs/");
  CLI::Option* prefix_option = download_cmd->add_option(
      "--prefix", download_prefix,
      "every file whose path starts with this, e.g. outputs/ (outputs/a/b.txt lands in DIR/outputs/a/b.txt)");
  path_option->excludes(prefix_option);
  download_cmd->add_option("-o,--output", download.destination,
                           "where to write: a file (or folder) for one file, a folder otherwise (default .)");

  CLI::App* cancel_cmd = app.add_subcommand("cancel", "cancel a run: its whole process tree is stopped");
  cancel_cmd->add_option("run", run_id, "run id")->required();

  cli::AgentsOptions agents;
  CLI::App* agents_cmd = app.add_subcommand(
      "agents", "the server's agents: state (idle, busy, draining, lost), CPUs, memory, GPUs, labels, runs");
  agents_cmd->add_option("--pool", agents.pool, "only this pool");
  agents_cmd->add_flag("--all", agents.all, "also offline agents (drained and gone, or restarted since)");

  cli::LoginOptions login;
  CLI::App* login_cmd = app.add_subcommand(
      "login", "check a token with the server, then keep server, token and CA for later commands "
               "(in the credentials file, 0600)");
  login_cmd->add_option("--server", login.flags.server, "runyard-server address (host:port)");
  CLI::Option* login_token_file =
      login_cmd->add_option("--token-file", login.flags.token_file, "file holding the token");
  login_cmd->add_flag("--token-stdin", login.token_stdin, "read the token from stdin")->excludes(login_token_file);
  login_cmd->add_option("--ca-file", login.flags.ca_file, "CA the server's certificate must be signed by");
  login_cmd->add_flag("--insecure", login.flags.insecure, "plaintext, no TLS (a loopback test server)");
  CLI::App* logout_cmd = app.add_subcommand("logout", "forget the saved credentials (the token stays valid until revoked)");
  CLI::App* whoami_cmd = app.add_subcommand("whoami", "the token this CLI presents: kind, id, name, role, where it comes from");

  CLI::App* tokens_cmd = app.add_subcommand("tokens", "the server's tokens (admin): create, list, revoke");
  tokens_cmd->require_subcommand(1);
  cli::TokenCreateOptions token_create;
  CLI::App* token_create_cmd = tokens_cmd->add_subcommand(
      "create", "a user token with a role, or a join token for agents; printed once (or --output-file)");
  token_create_cmd->add_option("--name", token_create.name, "who or what it is for (alice, ci, gpu pool)")->required();
  CLI::Option* role_option =
      token_create_cmd->add_option("--role", token_create.role, "admin, user (submit, cancel, ...) or reader (read only)");
  CLI::Option* join_option =
      token_create_cmd->add_flag("--join", token_create.join, "a join token: agents register with it");
  role_option->excludes(join_option);
  token_create_cmd->add_option("--pool", token_create.pool, "with --join: only agents of this pool (default: any)")
      ->needs(join_option);
  token_create_cmd->add_option("--ttl", token_create.ttl, "lifetime: 30d, 12h, 45m, 90s or never (default never)");
  token_create_cmd->add_option("--output-file", token_create.output_file,
                               "write the token to this new file (0600) instead of printing it");
  bool tokens_all = false;
  CLI::App* token_list_cmd = tokens_cmd->add_subcommand(
      "list", "tokens: id, kind, role, name, pool, created, expires, last used, revoked");
  token_list_cmd->add_flag("--all", tokens_all, "also revoked tokens");
  std::string token_id;
  CLI::App* token_revoke_cmd =
      tokens_cmd->add_subcommand("revoke", "revoke a token: its next call is refused (an agent's runs end)");
  token_revoke_cmd->add_option("id", token_id, "token id (tokens list)")->required();

  cli::AuditOptions audit;
  CLI::App* audit_cmd = app.add_subcommand("audit", "the server's audit log: who did what, newest first");
  audit_cmd->add_option("--target", audit.target, "only events about this run, token or agent");
  audit_cmd->add_option("--limit", audit.limit, "at most this many events (default 100)")->check(CLI::PositiveNumber);

  CLI::App* snapshot_cmd = app.add_subcommand("snapshot", "snapshots of source folders");
  snapshot_cmd->require_subcommand(1);
  std::string snapshot_target = "local";
  CLI::App* snapshot_upload_cmd = snapshot_cmd->add_subcommand("upload", "upload a folder's snapshot, print its id");
  snapshot_upload_cmd->add_option("--source-directory", submit.flags.source_directory, "folder (default .)");
  snapshot_upload_cmd->add_option("--target", snapshot_target, "local (default) or any pool: the server's store");
  add_limit_options(snapshot_upload_cmd);
  std::string snapshot_output;
  CLI::App* snapshot_download_cmd = snapshot_cmd->add_subcommand("download", "a run's snapshot as a tar.gz");
  snapshot_download_cmd->add_option("run", run_id, "run id")->required();
  snapshot_download_cmd->add_option("-o,--output", snapshot_output, "file to write (default RUN-snapshot.tar.gz)");

  int exec_grace = 30;
  CLI::App* exec_cmd = app.add_subcommand("_exec-local", "");
  exec_cmd->group("");  // hidden: the background executor of local runs
  exec_cmd->add_option("run", run_id)->required();
  exec_cmd->add_option("--kill-grace-seconds", exec_grace);

  // Set last, so that the subcommands' help does not repeat it.
  app.footer("A server is reached over TLS with a token, from the flags, else the environment (RUNYARD_SERVER, "
             "RUNYARD_TOKEN, RUNYARD_CA_FILE, RUNYARD_INSECURE=1), else the credentials file runyard login wrote "
             "($XDG_CONFIG_HOME/runyard/credentials or ~/.config/runyard/credentials; its token goes only to its "
             "server). Local runs need none of it.");
  try {
    app.parse(own_argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : 2;
  }
  global.connection = cli::ResolveConnection(connection, cli::ProcessEnvironment(), cli::DefaultCredentialsFile());
  global.server = global.connection.server;
  submit.flags.arguments = script_arguments;
  submit.flags.arguments_given = arguments_given;

  if (arguments_given && !submit_cmd->parsed() && !run_cmd->parsed()) {
    std::fprintf(stderr, "runyard: arguments after -- are only for submit and run\n");
    return 2;
  }
  if (submit_cmd->parsed()) return cli::SubmitCommand(global, submit);
  if (run_cmd->parsed()) {
    submit.wait = true;
    submit.show_output = true;
    return cli::SubmitCommand(global, submit);
  }
  if (status_cmd->parsed()) return cli::StatusCommand(global, run_id);
  if (list_cmd->parsed()) return cli::ListCommand(global, list);
  if (metrics_cmd->parsed()) return cli::MetricsCommand(global, metrics);
  if (show_cmd->parsed()) return cli::ShowCommand(global, run_id);
  if (tag_cmd->parsed()) return cli::TagCommand(global, tag);
  if (experiments_cmd->parsed()) return cli::ExperimentsCommand(global, experiments_archived);
  if (archive_cmd->parsed()) return cli::ExperimentArchiveCommand(global, experiment_name, true);
  if (unarchive_cmd->parsed()) return cli::ExperimentArchiveCommand(global, experiment_name, false);
  if (logs_cmd->parsed()) return cli::LogsCommand(global, logs);
  if (files_cmd->parsed()) return cli::FilesCommand(global, run_id);
  if (download_cmd->parsed()) {
    if (prefix_option->count() > 0) download.prefix = download_prefix;
    return cli::DownloadCommand(global, download);
  }
  if (cancel_cmd->parsed()) return cli::CancelCommand(global, run_id);
  if (agents_cmd->parsed()) return cli::AgentsCommand(global, agents);
  if (login_cmd->parsed()) {
    // Login's own flags first, then the global ones (`runyard --server S login ...`).
    if (login.flags.server.empty()) login.flags.server = connection.server;
    if (login.flags.token_file.empty() && !login.token_stdin) login.flags.token_file = connection.token_file;
    if (login.flags.ca_file.empty()) login.flags.ca_file = connection.ca_file;
    login.flags.insecure = login.flags.insecure || connection.insecure;
    return cli::LoginCommand(global, login);
  }
  if (logout_cmd->parsed()) return cli::LogoutCommand(global);
  if (whoami_cmd->parsed()) return cli::WhoAmICommand(global);
  if (token_create_cmd->parsed()) return cli::TokensCreateCommand(global, token_create);
  if (token_list_cmd->parsed()) return cli::TokensListCommand(global, tokens_all);
  if (token_revoke_cmd->parsed()) return cli::TokensRevokeCommand(global, token_id);
  if (audit_cmd->parsed()) return cli::AuditCommand(global, audit);
  if (snapshot_upload_cmd->parsed()) return cli::SnapshotUploadCommand(global, submit.flags, snapshot_target);
  if (snapshot_download_cmd->parsed()) return cli::SnapshotDownloadCommand(global, run_id, snapshot_output);
  if (exec_cmd->parsed()) return cli::ExecuteLocalCommand(run_id, exec_grace);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  const int code = ParseAndRun(argc, argv);
  // Every file and connection the command opened is closed by the time it returns. Leaving
  // without static destructors spares gRPC's global shutdown, which joins its timer and
  // executor threads: several milliseconds at the end of every command.
  std::fflush(nullptr);
  std::_Exit(code);
}
