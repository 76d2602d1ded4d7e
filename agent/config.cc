#include "agent/config.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "common/sdk_location.h"

namespace runyard::agent {

absl::Status LoadAgentConfigFile(const std::filesystem::path& file, AgentConfig* config) {
  common::ConfigTable table("agent config");
  DescribeAgentConfig(config, &table);
  return table.LoadFile(file);
}

absl::Status ValidateAgentConfig(const AgentConfig& config) {
  if (config.slots < 1) return absl::InvalidArgumentError("slots must be at least 1");
  if (config.pool.empty() || config.pool == "local") {
    return absl::InvalidArgumentError("pool must be set and must not be 'local'");
  }
  if (config.kill_grace_seconds < 0) return absl::InvalidArgumentError("kill_grace_seconds must not be negative");
  if (config.work_dir.empty()) return absl::InvalidArgumentError("work_dir must be set");
  if (config.max_log_bytes < 0) return absl::InvalidArgumentError("max_log_bytes must not be negative");
  if (config.drain_timeout_seconds < 0) return absl::InvalidArgumentError("drain_timeout_seconds must not be negative");
  if (config.healthz_server_silence_seconds <= 0) {
    return absl::InvalidArgumentError("healthz_server_silence_seconds must be positive");
  }
  if (!config.http_listen.empty() && config.http_listen.rfind(':') == std::string::npos) {
    return absl::InvalidArgumentError("http_listen must be host:port, not '" + config.http_listen + "'");
  }
  if (config.pids_limit < 0) return absl::InvalidArgumentError("pids_limit must not be negative");
  if (config.max_open_files <= 0) return absl::InvalidArgumentError("max_open_files must be positive");
  if (config.env_cache_max_bytes < 0) return absl::InvalidArgumentError("env_cache_max_bytes must not be negative");
  if (config.server.empty()) return absl::InvalidArgumentError("server must be set (host:port)");
  if (config.client_cert_file.empty() != config.client_key_file.empty()) {
    return absl::InvalidArgumentError("client_cert_file and client_key_file go together: set both or neither");
  }
  if (config.http_tls_cert_file.empty() != config.http_tls_key_file.empty()) {
    return absl::InvalidArgumentError("http_tls_cert_file and http_tls_key_file go together: set both or neither");
  }
  if (config.join_token_fd < -1) return absl::InvalidArgumentError("join_token_fd must be a file descriptor or -1");
  if (config.join_token_fd >= 0 && !config.join_token_file.empty()) {
    return absl::InvalidArgumentError("join_token_file and join_token_fd: set one of them, not both");
  }
  if (const auto level = spdlog::level::from_str(config.log_level);
      level == spdlog::level::off && config.log_level != "off") {
    return absl::InvalidArgumentError("log_level must be trace, debug, info, warn, error or off, not '" +
                                      config.log_level + "'");
  }
  if (config.cache_max_bytes < 0) return absl::InvalidArgumentError("cache_max_bytes must not be negative");
  if (config.environment_setup_timeout_seconds <= 0) {
    return absl::InvalidArgumentError("environment_setup_timeout_seconds must be positive");
  }
  if (config.cgroup_mode != "auto" && config.cgroup_mode != "v2" && config.cgroup_mode != "v1" &&
      config.cgroup_mode != "none") {
    return absl::InvalidArgumentError("cgroup_mode must be auto, v2, v1 or none");
  }
  if (config.sandbox != "none" && config.sandbox != "bubblewrap") {
    return absl::InvalidArgumentError("sandbox must be none or bubblewrap");
  }
  for (const std::string& path : config.sandbox_hide_paths) {
    if (path.empty() || path[0] != '/' || path == "/") {
      return absl::InvalidArgumentError("sandbox_hide_paths: '" + path + "' is not an absolute path below /");
    }
  }
  if (config.snapshot_materialization != "auto" && config.snapshot_materialization != "copy" &&
      config.snapshot_materialization != "overlay") {
    return absl::InvalidArgumentError("snapshot_materialization must be auto, copy or overlay");
  }
  for (const auto& [name, value] :
       {std::pair<const char*, int64_t>{"max_metric_values_per_run", config.max_metric_values_per_run},
        {"max_children_per_run", config.max_children_per_run},
        {"max_tags_per_run", config.max_tags_per_run},
        {"max_run_api_bytes", config.max_run_api_bytes}}) {
    if (value <= 0) return absl::InvalidArgumentError(absl::StrCat(name, " must be positive"));
  }
  if (config.network_interface.size() >= 16 ||
      config.network_interface.find_first_of("/ \t") != std::string::npos) {
    return absl::InvalidArgumentError("network_interface must be an interface name such as eth0, not '" +
                                      config.network_interface + "'");
  }
  if (config.advertise_address.find_first_of(" \t/") != std::string::npos) {
    return absl::InvalidArgumentError("advertise_address must be a host name or an IP address, not '" +
                                      config.advertise_address + "'");
  }
  if (!config.sdk_python_dir.empty() && config.sdk_python_dir != "none" &&
      config.sdk_python_dir[0] != '/') {
    return absl::InvalidArgumentError("sdk_python_dir must be an absolute path, empty or none, not '" +
                                      config.sdk_python_dir + "'");
  }
  return absl::OkStatus();
}

std::filesystem::path SdkPythonDirOf(const AgentConfig& config) {
  if (config.sdk_python_dir == "none") return {};
  if (!config.sdk_python_dir.empty()) return config.sdk_python_dir;
  return common::FindSdkPythonDirOfThisProcess();
}

runtime::EnvironmentSettings EnvironmentSettingsOf(const AgentConfig& config) {
  runtime::EnvironmentSettings settings;
  settings.default_base_python = config.base_python;
  settings.pip.index_url = config.pip_index_url;
  settings.pip.extra_index_urls = config.pip_extra_index_urls;
  settings.pip.find_links = config.pip_find_links;
  settings.pip.no_index = config.pip_no_index;
  settings.pip.system_site_packages = config.venv_system_site_packages;
  settings.conda_executable = config.conda_executable;
  settings.setup_timeout = std::chrono::seconds(config.environment_setup_timeout_seconds);
  return settings;
}

}  // namespace runyard::agent
