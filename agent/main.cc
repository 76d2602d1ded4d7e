// runyard-agent: pulls runs from runyard-server and runs them on this machine.
#include <signal.h>

#include <thread>

#include <CLI/CLI.hpp>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/env_command.h"
#include "common/logging.h"

using namespace runyard;

int main(int argc, char** argv) {
  CLI::App app{"runyard-agent: pulls runs from runyard-server and runs them on this machine"};
  std::string config_file;
  agent::AgentConfig config;
  std::string server, pool, work_dir, name, log_level;
  int slots = 0;
  int kill_grace = -1;
  int64_t cache_max_bytes = -1;
  int64_t max_log_bytes = -1;
  app.add_option("--config", config_file, "YAML config file; flags override it");
  app.add_option("--server", server, "runyard-server address (host:port)");
  app.add_option("--pool", pool, "the pool (compute target) this agent serves");
  app.add_option("--work-dir", work_dir, "where runs, snapshots and caches live");
  app.add_option("--slots", slots, "how many runs at once");
  app.add_option("--name", name, "agent name shown on the server (default: host name)");
  app.add_option("--kill-grace-seconds", kill_grace, "SIGTERM-to-SIGKILL grace on cancel/deadline");
  app.add_option("--max-log-bytes", max_log_bytes, "a run's std_log is cut past this many bytes (0: no limit)");
  app.add_option("--cache-max-bytes", cache_max_bytes, "quota of the node's snapshot blob cache");
  std::string materialization, cgroup_mode;
  app.add_option("--cgroup-mode", cgroup_mode, "auto (default), v2, v1 or none (process group)");
  int64_t pids_limit = -1;
  std::string run_as_user;
  app.add_option("--run-as-user", run_as_user, "unprivileged user runs execute as");
  app.add_option("--pids-limit", pids_limit, "most processes a run may have at once (0: none)");
  std::string sandbox;
  app.add_option("--sandbox", sandbox, "none (default) or bubblewrap");
  bool no_network = false;
  app.add_flag("--sandbox-no-network", no_network, "sandboxed runs get no network");
  app.add_option("--snapshot-materialization", materialization, "auto (default), copy or overlay");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error");
  // Managed environments.
  int64_t env_cache_max_bytes = -1;
  int setup_timeout = 0;
  std::string base_python, pip_index_url, conda_executable;
  std::vector<std::string> find_links;
  bool no_index = false;
  app.add_option("--env-cache-max-bytes", env_cache_max_bytes, "quota of the node's environment cache");
  app.add_option("--base-python", base_python, "interpreter venvs are made from (default python3)");
  app.add_option("--pip-index-url", pip_index_url, "pip index for managed environments");
  app.add_option("--pip-find-links", find_links, "folder or URL with wheels (repeatable)");
  app.add_flag("--pip-no-index", no_index, "use only --pip-find-links, no index");
  app.add_option("--conda-executable", conda_executable, "conda, mamba or micromamba to build conda envs");
  app.add_option("--environment-setup-timeout-seconds", setup_timeout, "longest an environment build may take");
  app.fallthrough();
  CLI::App* env_cmd = app.add_subcommand("env", "the node's environment cache (needs --work-dir or --config)");
  bool json = false;
  CLI::App* env_list = env_cmd->add_subcommand("list", "built environments: key, size, last use, in use");
  env_list->add_flag("--json", json, "JSON output");
  bool prune_all = false;
  CLI::App* env_prune = env_cmd->add_subcommand("prune", "evict down to the quota (or --all unused)");
  env_prune->add_flag("--all", prune_all, "remove every environment no run uses");
  CLI11_PARSE(app, argc, argv);

  if (!config_file.empty()) {
    if (absl::Status loaded = agent::LoadAgentConfigFile(config_file, &config); !loaded.ok()) {
      std::fprintf(stderr, "runyard-agent: %s\n", std::string(loaded.message()).c_str());
      return 2;
    }
  }
  if (!server.empty()) config.server = server;
  if (!pool.empty()) config.pool = pool;
  if (!work_dir.empty()) config.work_dir = work_dir;
  if (slots > 0) config.slots = slots;
  if (!name.empty()) config.name = name;
  if (kill_grace >= 0) config.kill_grace_seconds = kill_grace;
  if (!log_level.empty()) config.log_level = log_level;
  if (cache_max_bytes >= 0) config.cache_max_bytes = cache_max_bytes;
  if (max_log_bytes >= 0) config.max_log_bytes = max_log_bytes;
  if (!materialization.empty()) config.snapshot_materialization = materialization;
  if (!cgroup_mode.empty()) config.cgroup_mode = cgroup_mode;
  if (pids_limit >= 0) config.pids_limit = pids_limit;
  if (!run_as_user.empty()) config.run_as_user = run_as_user;
  if (!sandbox.empty()) config.sandbox = sandbox;
  if (no_network) config.sandbox_network = false;
  if (env_cache_max_bytes >= 0) config.env_cache_max_bytes = env_cache_max_bytes;
  if (setup_timeout > 0) config.environment_setup_timeout_seconds = setup_timeout;
  if (!base_python.empty()) config.base_python = base_python;
  if (!pip_index_url.empty()) config.pip_index_url = pip_index_url;
  if (!find_links.empty()) config.pip_find_links = find_links;
  if (no_index) config.pip_no_index = true;
  if (!conda_executable.empty()) config.conda_executable = conda_executable;
  if (env_cmd->parsed()) {
    config.work_dir = std::filesystem::absolute(config.work_dir);
    return agent::EnvironmentCommand(config, env_list->parsed(), prune_all, json);
  }
  if (absl::Status valid = agent::ValidateAgentConfig(config); !valid.ok()) {
    std::fprintf(stderr, "runyard-agent: %s\n", std::string(valid.message()).c_str());
    return 2;
  }
  config.work_dir = std::filesystem::absolute(config.work_dir);
  common::SetLogLevel(config.log_level);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  agent::Agent agent(config);
  std::thread signal_thread([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    common::Logger("agent")->info("signal {} received", signal);
    agent.Shutdown();
  });
  signal_thread.detach();
  return agent.Run();
}
