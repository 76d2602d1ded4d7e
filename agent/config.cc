#include "agent/config.h"

#include <yaml-cpp/yaml.h>

#include "absl/strings/str_cat.h"

namespace runyard::agent {

absl::Status LoadAgentConfigFile(const std::filesystem::path& file, AgentConfig* config) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(file.string());
  } catch (const YAML::Exception& error) {
    return absl::InvalidArgumentError(absl::StrCat("agent config ", file.string(), ": ", error.what()));
  }
  if (root.IsNull()) return absl::OkStatus();
  if (!root.IsMap()) return absl::InvalidArgumentError(absl::StrCat("agent config ", file.string(), ": expected a mapping"));
  for (const auto& entry : root) {
    const std::string key = entry.first.as<std::string>();
    const YAML::Node& value = entry.second;
    if (value.IsNull()) continue;  // "key:" with no value keeps the default
    try {
      if (key == "server") config->server = value.as<std::string>();
      else if (key == "pool") config->pool = value.as<std::string>();
      else if (key == "work_dir") config->work_dir = value.as<std::string>();
      else if (key == "slots") config->slots = value.as<int>();
      else if (key == "name") config->name = value.as<std::string>();
      else if (key == "kill_grace_seconds") config->kill_grace_seconds = value.as<int>();
      else if (key == "cache_max_bytes") config->cache_max_bytes = value.as<int64_t>();
      else if (key == "snapshot_materialization") config->snapshot_materialization = value.as<std::string>();
      else if (key == "env_cache_max_bytes") config->env_cache_max_bytes = value.as<int64_t>();
      else if (key == "base_python") config->base_python = value.as<std::string>();
      else if (key == "pip_index_url") config->pip_index_url = value.as<std::string>();
      else if (key == "pip_extra_index_urls") config->pip_extra_index_urls = value.as<std::vector<std::string>>();
      else if (key == "pip_find_links") config->pip_find_links = value.as<std::vector<std::string>>();
      else if (key == "pip_no_index") config->pip_no_index = value.as<bool>();
      else if (key == "venv_system_site_packages") config->venv_system_site_packages = value.as<bool>();
      else if (key == "conda_executable") config->conda_executable = value.as<std::string>();
      else if (key == "cgroup_mode") config->cgroup_mode = value.as<std::string>();
      else if (key == "pids_limit") config->pids_limit = value.as<int64_t>();
      else if (key == "run_as_user") config->run_as_user = value.as<std::string>();
      else if (key == "clean_environment") config->clean_environment = value.as<bool>();
      else if (key == "private_tmp") config->private_tmp = value.as<bool>();
      else if (key == "max_open_files") config->max_open_files = value.as<int64_t>();
      else if (key == "max_log_bytes") config->max_log_bytes = value.as<int64_t>();
      else if (key == "sandbox") config->sandbox = value.as<std::string>();
      else if (key == "bwrap_path") config->bwrap_path = value.as<std::string>();
      else if (key == "sandbox_network") config->sandbox_network = value.as<bool>();
      else if (key == "sandbox_hide_paths") config->sandbox_hide_paths = value.as<std::vector<std::string>>();
      else if (key == "environment_setup_timeout_seconds") config->environment_setup_timeout_seconds = value.as<int>();
      else if (key == "log_level") config->log_level = value.as<std::string>();
      else return absl::InvalidArgumentError(absl::StrCat("agent config ", file.string(), ": unknown key '", key, "'"));
    } catch (const YAML::Exception&) {
      return absl::InvalidArgumentError(absl::StrCat("agent config ", file.string(), ": key '", key, "' has a value of the wrong type"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateAgentConfig(const AgentConfig& config) {
  if (config.slots < 1) return absl::InvalidArgumentError("slots must be at least 1");
  if (config.pool.empty() || config.pool == "local") {
    return absl::InvalidArgumentError("pool must be set and must not be 'local'");
  }
  if (config.kill_grace_seconds < 0) return absl::InvalidArgumentError("kill_grace_seconds must not be negative");
  if (config.work_dir.empty()) return absl::InvalidArgumentError("work_dir must be set");
  if (config.max_log_bytes < 0) return absl::InvalidArgumentError("max_log_bytes must not be negative");
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
  return absl::OkStatus();
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
