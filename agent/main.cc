// runyard-agent: pulls runs from runyard-server and runs them on this machine.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <thread>

#include "agent/agent.h"
#include "agent/agent_credential.h"
#include "agent/config.h"
#include "agent/drain_command.h"
#include "agent/env_command.h"
#include "agent/grpc_links.h"
#include "common/config_table.h"
#include "common/grpc_channel.h"
#include "common/logging.h"

using namespace runyard;

namespace {

int ConfigError(const absl::Status& status) {
  std::fprintf(stderr, "runyard-agent: %s\n", std::string(status.message()).c_str());
  return 2;
}

// What the agent presents to the server: its kept agent token, else the join token, read
// once here from a file or an inherited fd (which is closed, so no run inherits it).
absl::StatusOr<std::unique_ptr<agent::AgentCredential>> LoadCredential(const agent::AgentConfig& config) {
  std::string join_token;
  std::string join_origin;
  if (config.join_token_fd >= 0) {
    absl::StatusOr<std::string> read = agent::ReadJoinTokenFd(config.join_token_fd);
    if (!read.ok()) return read.status();
    join_token = *read;
    join_origin = "join_token_fd " + std::to_string(config.join_token_fd);
  } else if (!config.join_token_file.empty()) {
    absl::StatusOr<std::string> read = agent::ReadJoinTokenFile(
        config.join_token_file, [](const std::string& line) { common::Logger("agent")->warn("{}", line); });
    if (!read.ok()) return read.status();
    join_token = *read;
    join_origin = config.join_token_file;
  }
  absl::StatusOr<std::unique_ptr<agent::AgentCredential>> credential =
      agent::AgentCredential::Load(agent::AgentTokenFile(config.work_dir), join_token, join_origin,
                                   config.pool + "/" + config.name);
  if (!credential.ok()) return credential.status();
  if (!(*credential)->replaced_identity().empty()) {
    common::Logger("agent")->warn("the agent token kept in {} is for {}, not {}: enrolling again with {}",
                                  agent::AgentTokenFile(config.work_dir).string(), (*credential)->replaced_identity(),
                                  config.pool + "/" + config.name, (*credential)->Describe());
  }
  if (!(*credential)->has_token()) {
    return absl::FailedPreconditionError(
        "no credential: give the agent its pool's join token with join_token_file (or join_token_fd); an "
        "admin makes one with `runyard tokens create --join --name NAME [--pool POOL] --output-file FILE`");
  }
  return credential;
}

common::ChannelOptions ServerChannelOptions(const agent::AgentConfig& config,
                                            std::shared_ptr<common::TokenSource> token) {
  common::ChannelOptions options;
  options.address = config.server;
  options.insecure_plaintext = config.insecure_plaintext;
  options.ca_file = config.server_ca_file;
  options.client_cert_file = config.client_cert_file;
  options.client_key_file = config.client_key_file;
  options.token = std::move(token);
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"runyard-agent: pulls runs from runyard-server and runs them on this machine"};
  agent::AgentConfig config;
  common::ConfigTable table("agent config");
  agent::DescribeAgentConfig(&config, &table);
  std::string config_file;
  bool check_config = false;
  app.add_option("--config", config_file, "YAML config file (every key below); flags override it");
  app.add_flag("--check-config", check_config,
               "validate the configuration, print the effective one, and exit");
  table.AddFlags(app);
  table.AddBoolAlias(app, "--sandbox-no-network", "sandbox_network", false,
                     "same as --sandbox-network=false");
  app.fallthrough();
  CLI::App* env_cmd =
      app.add_subcommand("env", "the node's environment cache (needs --work-dir or --config)");
  bool json = false;
  CLI::App* env_list =
      env_cmd->add_subcommand("list", "built environments: key, size, last use, in use");
  env_list->add_flag("--json", json, "JSON output");
  bool prune_all = false;
  CLI::App* env_prune =
      env_cmd->add_subcommand("prune", "evict down to the quota (or --all unused)");
  env_prune->add_flag("--all", prune_all, "remove every environment no run uses");
  CLI::App* drain_cmd = app.add_subcommand(
      "drain",
      "tell the agent running on this work dir to take no new run and exit once its runs end");
  bool drain_wait = false;
  drain_cmd->add_flag("--wait", drain_wait, "wait until the agent has exited");
  CLI11_PARSE(app, argc, argv);

  if (!config_file.empty()) {
    if (absl::Status loaded = table.LoadFile(config_file); !loaded.ok()) return ConfigError(loaded);
  }
  if (absl::Status applied = table.ApplyFlags(); !applied.ok()) return ConfigError(applied);
  if (env_cmd->parsed()) {
    config.work_dir = std::filesystem::absolute(config.work_dir);
    return agent::EnvironmentCommand(config, env_list->parsed(), prune_all, json);
  }
  if (absl::Status valid = agent::ValidateAgentConfig(config); !valid.ok())
    return ConfigError(valid);
  config.work_dir = std::filesystem::absolute(config.work_dir);
  if (check_config) {
    std::printf("# runyard-agent: configuration is valid; effective values:\n%s",
                table.Render().c_str());
    return 0;
  }
  if (drain_cmd->parsed()) return agent::DrainCommand(config, drain_wait);
  common::ConfigureLogging(config.log_level, config.log_file);

  // Signals are taken by one thread: the first SIGTERM drains (systemctl stop, runyard-agent
  // drain), a second one, or SIGINT (Ctrl-C), stops the runs now.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::unique_ptr<agent::AgentCredential>> credential = LoadCredential(config);
  if (!credential.ok()) {
    common::Logger("agent")->critical("{}", std::string(credential.status().message()));
    return 2;
  }
  common::Logger("agent")->info("presenting {} to {}", (*credential)->Describe(), config.server);
  if (config.insecure_plaintext && !config.server_ca_file.empty()) {
    common::Logger("agent")->warn("insecure_plaintext is set: server_ca_file {} is not used", config.server_ca_file);
  }
  const common::ChannelOptions channel_options = ServerChannelOptions(config, (*credential)->source());
  agent::GrpcControlPlaneLink link(common::ServerChannel(channel_options), channel_options);
  agent::Agent agent(config, {.link = &link, .credential = credential->get()});
  std::thread signal_thread([&] {
    for (int received = 0;; ++received) {
      int signal = 0;
      sigwait(&signals, &signal);
      if (received == 0 && signal == SIGTERM) {
        common::Logger("agent")->info("signal {}: draining (a second one stops the runs now)",
                                      signal);
        agent.Drain();
      } else {
        common::Logger("agent")->info("signal {} again: stopping the runs now", signal);
        agent.Shutdown();
      }
    }
  });
  signal_thread.detach();
  return agent.Run();
}
