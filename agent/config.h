#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config_table.h"
#include "runtime/env_builder.h"

namespace runyard::agent {

// Everything runyard-agent is told: from its YAML config file, then command-line flags.
struct AgentConfig {
  std::string server = "127.0.0.1:7878";
  // How it reaches the server: TLS checked against server_ca_file (empty: the system's
  // CAs), a client certificate for a server that asks for one, or plaintext.
  std::string server_ca_file;
  bool insecure_plaintext = false;  // also lets http_listen serve plaintext off loopback
  std::string client_cert_file;
  std::string client_key_file;
  // The pool's join token, read once at start from a file or an inherited fd (never a
  // flag value or a variable: /proc/*/cmdline and environ show those). Exchanged at the
  // first registration for the agent's own token, kept in <work_dir>/state/agent-token.
  std::string join_token_file;
  int join_token_fd = -1;
  std::string pool = "default";
  std::filesystem::path work_dir = "/var/lib/runyard-agent";
  int slots = 1;
  std::string name;  // defaults to the host name
  int kill_grace_seconds = 30;
  // Quota of the node's snapshot blob cache (<work_dir>/cas); least recently used blobs
  // of finished runs go first.
  int64_t cache_max_bytes = 10LL << 30;
  // auto: an overlay on hardlinks into the cache where the agent may mount (root), else
  // copies; copy; overlay (fail runs where it cannot mount).
  std::string snapshot_materialization = "auto";
  // Managed environments (pip venvs, conda) in <work_dir>/envs.
  int64_t env_cache_max_bytes = 20LL << 30;
  std::string base_python = "python3";      // venvs are made from it unless the spec names one
  std::string pip_index_url;
  std::vector<std::string> pip_extra_index_urls;
  std::vector<std::string> pip_find_links;  // e.g. a local wheelhouse
  bool pip_no_index = false;
  bool venv_system_site_packages = false;
  std::string conda_executable;             // empty: micromamba, mamba or conda from PATH
  int environment_setup_timeout_seconds = 1800;
  // How runs are contained: auto (cgroup v2, else v1, else process group), v2, v1, none.
  std::string cgroup_mode = "auto";
  int64_t pids_limit = 0;  // most processes per run (0: no limit)
  // Hardening of runs.
  std::string run_as_user;        // empty: the agent's own user (warned about when root)
  bool clean_environment = true;  // runs do not see the agent's environment
  bool private_tmp = true;        // each run its own /tmp (needs root)
  int64_t max_open_files = 65536;
  // none, or bubblewrap: each run in a sandbox with the system read-only, only its own
  // folders writable, a private /tmp, /proc and /dev, and the agent's files hidden.
  std::string sandbox = "none";
  std::string bwrap_path = "bwrap";  // a path, or a name looked up on PATH
  bool sandbox_network = true;       // false: runs get no network at all
  // Hidden from sandboxed runs besides the agent's work_dir (where they exist).
  std::vector<std::string> sandbox_hide_paths = {"/etc/runyard", "/var/lib/runyard", "/root"};
  // A run's user_logs/std_log.txt is cut past this (a marker line says so; the run goes on).
  int64_t max_log_bytes = 1LL << 30;
  // The in-run API: the Python SDK put on runs' PYTHONPATH (empty: found next to the
  // agent's binary, common/sdk_location.h; "none": no SDK), and the ceilings the SDK
  // enforces in the script.
  std::string sdk_python_dir;
  int64_t max_metric_values_per_run = 5'000'000;
  int64_t max_children_per_run = 10'000;
  int64_t max_tags_per_run = 1'000;
  int64_t max_run_api_bytes = 1LL << 30;  // a run's records.jsonl: nothing reported past it
  std::map<std::string, std::string> labels;  // reported with the agent's capabilities
  // Distributed runs: the interface the ranks' gloo / NCCL use (GLOO_SOCKET_IFNAME,
  // NCCL_SOCKET_IFNAME) and whose IPv4 address the other nodes reach this one at;
  // advertise_address, when set, is that address instead (a NAT, a name).
  std::string network_interface;
  std::string advertise_address;
  int drain_timeout_seconds = 600;            // first SIGTERM: runs may finish within this
  std::string http_listen;                    // /healthz and /metrics; empty: off
  std::string http_tls_cert_file;             // both: http_listen serves HTTPS
  std::string http_tls_key_file;
  int healthz_server_silence_seconds = 60;
  std::string log_level = "info";
  std::string log_file;
};

// Every key of the agent's config file (the struct's fields), bound to `config`: the file
// reader, the flags and --check-config's output all come from it (agent/config_fields.cc).
void DescribeAgentConfig(AgentConfig* config, common::ConfigTable* table);

// Reads a config file (keys as the struct's fields); an unknown key or a value of the
// wrong type is an error naming the key.
absl::Status LoadAgentConfigFile(const std::filesystem::path& file, AgentConfig* config);

// Checks values that came from anywhere.
absl::Status ValidateAgentConfig(const AgentConfig& config);

// The SDK folder runs get on their PYTHONPATH: sdk_python_dir as given, found next to the
// agent's binary when empty, none for "none" (or when nothing is found).
std::filesystem::path SdkPythonDirOf(const AgentConfig& config);

// The runtime's environment settings from the agent's configuration.
runtime::EnvironmentSettings EnvironmentSettingsOf(const AgentConfig& config);

}  // namespace runyard::agent
