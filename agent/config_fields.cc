#include "agent/config.h"

namespace runyard::agent {

void DescribeAgentConfig(AgentConfig* config, common::ConfigTable* table) {
  // Where it pulls from and what it serves.
  table->Add("server", "runyard-server address (host:port)", &config->server);
  table->Add("server_ca_file", "CA the server's certificate must be signed by (empty: the system's CAs)",
             &config->server_ca_file);
  table->Add("insecure_plaintext",
             "talk to the server without TLS, and let http_listen serve plaintext off loopback",
             &config->insecure_plaintext);
  table->Add("client_cert_file", "client certificate for a server that requires one (mTLS)", &config->client_cert_file);
  table->Add("client_key_file", "key of client_cert_file", &config->client_key_file);
  table->Add("join_token_file",
             "file holding the pool's join token, exchanged at the first registration for the agent's own "
             "token (<work_dir>/state/agent-token)",
             &config->join_token_file);
  table->Add("join_token_fd", "inherited file descriptor to read the join token from once (-1: none)",
             &config->join_token_fd);
  table->Add("pool", "the pool (compute target) this agent serves", &config->pool);
  table->Add("name", "agent name shown on the server (empty: host name)", &config->name);
  table->Add("labels", "capabilities reported to the server, e.g. {gpu: a100}", &config->labels);
  // Distributed runs.
  table->Add("network_interface",
             "interface of distributed runs' traffic (GLOO_SOCKET_IFNAME, NCCL_SOCKET_IFNAME) "
             "and whose IPv4 address other nodes reach this one at (empty: not set)",
             &config->network_interface);
  table->Add("advertise_address",
             "address other nodes of a distributed run reach this one at (empty: "
             "network_interface's, else the one the server sees)",
             &config->advertise_address);
  table->Add("work_dir", "where runs, snapshots and caches live", &config->work_dir);
  table->Add("slots", "how many runs at once", &config->slots);
  // Stopping.
  table->Add("kill_grace_seconds", "SIGTERM-to-SIGKILL grace on cancel and deadline", &config->kill_grace_seconds);
  table->Add("drain_timeout_seconds", "on the first SIGTERM, how long running runs may go on before they are canceled",
             &config->drain_timeout_seconds);
  // Runs' output and caches.
  table->Add("max_log_bytes", "a run's std_log is cut past this many bytes (0: no limit)", &config->max_log_bytes);
  table->Add("cache_max_bytes", "quota of the node's snapshot blob cache", &config->cache_max_bytes);
  table->Add("snapshot_materialization", "auto, copy or overlay", &config->snapshot_materialization);
  // Managed environments.
  table->Add("env_cache_max_bytes", "quota of the node's environment cache", &config->env_cache_max_bytes);
  table->Add("base_python", "interpreter venvs are made from unless the spec names one", &config->base_python);
  table->Add("pip_index_url", "pip index for managed environments (empty: pip's default)", &config->pip_index_url);
  table->Add("pip_extra_index_urls", "more pip indexes", &config->pip_extra_index_urls);
  table->Add("pip_find_links", "folders or URLs with wheels", &config->pip_find_links);
  table->Add("pip_no_index", "use only pip_find_links, no index", &config->pip_no_index);
  table->Add("venv_system_site_packages", "venvs see the base interpreter's packages",
             &config->venv_system_site_packages);
  table->Add("conda_executable", "conda, mamba or micromamba (empty: found on PATH)", &config->conda_executable);
  table->Add("environment_setup_timeout_seconds", "longest an environment build may take",
             &config->environment_setup_timeout_seconds);
  // The in-run API (runyard / azureml.core inside the script).
  table->Add("sdk_python_dir",
             "folder with the Python SDK put on runs' PYTHONPATH (empty: next to the agent's "
             "binary; none: no SDK)",
             &config->sdk_python_dir);
  table->Add("max_metric_values_per_run", "most metric values one run may log (the SDK refuses more)",
             &config->max_metric_values_per_run);
  table->Add("max_children_per_run", "most child runs one run may create", &config->max_children_per_run);
  table->Add("max_tags_per_run", "most tags (and, apart, properties) one run may set", &config->max_tags_per_run);
  table->Add("max_run_api_bytes",
             "most bytes of in-run API records one run may write (the SDK refuses more; "
             "nothing past it is reported)",
             &config->max_run_api_bytes);
  // Isolation of runs.
  table->Add("cgroup_mode", "auto, v2, v1 or none (process group only)", &config->cgroup_mode);
  table->Add("pids_limit", "most processes a run may have at once (0: no limit)", &config->pids_limit);
  table->Add("run_as_user", "unprivileged user runs execute as (empty: the agent's own)", &config->run_as_user);
  table->Add("clean_environment", "runs do not see the agent's environment variables", &config->clean_environment);
  table->Add("private_tmp", "each run gets its own /tmp (needs root)", &config->private_tmp);
  table->Add("max_open_files", "open-file limit of a run's processes", &config->max_open_files);
  table->Add("sandbox", "none or bubblewrap", &config->sandbox);
  table->Add("bwrap_path", "bubblewrap binary: a path, or a name looked up on PATH", &config->bwrap_path);
  table->Add("sandbox_network", "false: sandboxed runs get no network", &config->sandbox_network);
  table->Add("sandbox_hide_paths", "folders a sandboxed run cannot see", &config->sandbox_hide_paths);
  // Operating the agent.
  table->Add("http_listen", "host:port for /healthz and /metrics (empty: off)", &config->http_listen);
  table->Add("http_tls_cert_file", "certificate (PEM) for HTTPS on http_listen", &config->http_tls_cert_file);
  table->Add("http_tls_key_file", "key of http_tls_cert_file", &config->http_tls_key_file);
  table->Add("healthz_server_silence_seconds", "/healthz fails once the server was unreachable this long",
             &config->healthz_server_silence_seconds);
  table->Add("log_level", "trace, debug, info, warn or error", &config->log_level);
  table->Add("log_file", "also log to this file (empty: stderr only)", &config->log_file);
}

}  // namespace runyard::agent
