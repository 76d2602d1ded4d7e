// runyard-agent: pulls runs from runyard-server and runs them on this machine.
#include <signal.h>

#include <thread>

#include <CLI/CLI.hpp>

#include "agent/agent.h"
#include "agent/config.h"
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
  app.add_option("--config", config_file, "YAML config file; flags override it");
  app.add_option("--server", server, "runyard-server address (host:port)");
  app.add_option("--pool", pool, "the pool (compute target) this agent serves");
  app.add_option("--work-dir", work_dir, "where runs, snapshots and caches live");
  app.add_option("--slots", slots, "how many runs at once");
  app.add_option("--name", name, "agent name shown on the server (default: host name)");
  app.add_option("--kill-grace-seconds", kill_grace, "SIGTERM-to-SIGKILL grace on cancel/deadline");
  app.add_option("--cache-max-bytes", cache_max_bytes, "quota of the node's snapshot blob cache");
  std::string materialization;
  app.add_option("--snapshot-materialization", materialization, "auto (default), copy or overlay");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error");
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
  if (!materialization.empty()) config.snapshot_materialization = materialization;
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
