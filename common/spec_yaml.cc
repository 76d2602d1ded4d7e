#include "common/spec_yaml.h"

#include <climits>
#include <cstdint>
#include <fstream>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/distributed_config.h"
#include "common/request_limits.h"

namespace runyard::common {
namespace {

using runyard::v1::RunSpec;

// Parse failures travel as this exception inside the parser only; the public functions
// turn it into an absl::Status.
struct SpecError {
  std::string message;
};

[[noreturn]] void Fail(const std::string& field, const std::string& what) {
  throw SpecError{absl::StrCat("spec field '", field, "': ", what)};
}

std::string Join(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

const char* KindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "nothing";
    default: return "a scalar";
  }
}

void RequireMap(const YAML::Node& node, const std::string& field,
                const std::set<std::string>& allowed) {
  if (!node.IsMap()) Fail(field.empty() ? "<document>" : field,
                          absl::StrCat("expected a mapping, got ", KindName(node)));
  std::set<std::string> seen;
  for (const auto& entry : node) {
    const std::string key = entry.first.as<std::string>();
    if (!allowed.contains(key)) {
      Fail(Join(field, key), absl::StrCat("unknown field (known here: ",
                                          absl::StrJoin(allowed, ", "), ")"));
    }
    if (!seen.insert(key).second) Fail(Join(field, key), "given twice");
  }
}

std::string String(const YAML::Node& node, const std::string& field) {
  if (!node.IsScalar()) Fail(field, absl::StrCat("expected a string, got ", KindName(node)));
  return node.Scalar();
}

int64_t Integer(const YAML::Node& node, const std::string& field) {
  if (!node.IsScalar()) Fail(field, absl::StrCat("expected an integer, got ", KindName(node)));
  try {
    size_t used = 0;
    const std::string& text = node.Scalar();
    int64_t value = std::stoll(text, &used);
    if (used != text.size()) throw std::invalid_argument(text);
    return value;
  } catch (const std::exception&) {
    Fail(field, absl::StrCat("expected an integer, got '", node.Scalar(), "'"));
  }
}

int32_t Int32(const YAML::Node& node, const std::string& field) {
  const int64_t value = Integer(node, field);
  if (value < INT32_MIN || value > INT32_MAX) Fail(field, "out of range");
  return static_cast<int32_t>(value);
}

bool Boolean(const YAML::Node& node, const std::string& field) {
  bool value = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
    Fail(field, "expected true or false");
  }
  return value;
}

std::vector<std::string> StringList(const YAML::Node& node, const std::string& field) {
  if (!node.IsSequence()) Fail(field, absl::StrCat("expected a list, got ", KindName(node)));
  std::vector<std::string> out;
  for (size_t i = 0; i < node.size(); ++i) {
    out.push_back(String(node[i], absl::StrCat(field, "[", i, "]")));
  }
  return out;
}

template <typename Map>
void StringMap(const YAML::Node& node, const std::string& field, Map* out) {
  if (!node.IsMap()) Fail(field, absl::StrCat("expected a mapping, got ", KindName(node)));
  for (const auto& entry : node) {
    const std::string key = entry.first.as<std::string>();
    (*out)[key] = String(entry.second, Join(field, key));
  }
}

void ParsePython(const YAML::Node& node, const std::string& field,
                 runyard::v1::PythonSection* python) {
  RequireMap(node, field,
             {"user_managed_dependencies", "interpreter_path", "pip_requirements_file",
              "pip_packages", "conda_dependencies_file"});
  for (const auto& entry : node) {
    const std::string key = entry.first.as<std::string>();
    const std::string name = Join(field, key);
    const YAML::Node& value = entry.second;
    if (key == "user_managed_dependencies") python->set_user_managed_dependencies(Boolean(value, name));
    if (key == "interpreter_path") python->set_interpreter_path(String(value, name));
    if (key == "pip_requirements_file") python->set_pip_requirements_file(String(value, name));
    if (key == "conda_dependencies_file") python->set_conda_dependencies_file(String(value, name));
    if (key == "pip_packages") {
      for (auto& package : StringList(value, name)) python->add_pip_packages(package);
    }
  }
}

// A secret name with no variable is most likely a typo that would leave the real
// variable unmasked.
absl::Status CheckSecretVariablesExist(const runyard::v1::Environment& env) {
  for (const std::string& secret : env.secret_variables()) {
    if (!env.environment_variables().contains(secret)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "spec field 'environment.secret_variables': '", secret,
          "' is not one of environment.environment_variables"));
    }
  }
  return absl::OkStatus();
}

void ParseEnvironment(const YAML::Node& node, const std::string& field,
                      runyard::v1::Environment* env) {
  RequireMap(node, field, {"name", "python", "environment_variables", "secret_variables"});
  for (const auto& entry : node) {
    const std::string key = entry.first.as<std::string>();
    const std::string name = Join(field, key);
    if (key == "name") env->set_name(String(entry.second, name));
    if (key == "python") ParsePython(entry.second, name, env->mutable_python());
    if (key == "environment_variables") {
      StringMap(entry.second, name, env->mutable_environment_variables());
    }
    if (key == "secret_variables") {
      for (auto& secret : StringList(entry.second, name)) env->add_secret_variables(secret);
    }
  }
  // After the loop: the two keys may come in either order.
  if (absl::Status listed = CheckSecretVariablesExist(*env); !listed.ok()) {
    throw SpecError{std::string(listed.message())};
  }
}

void ParseResources(const YAML::Node& node, const std::string& field,
                    runyard::v1::Resources* resources) {
  RequireMap(node, field, {"cpus", "memory_mb", "gpus"});
  for (const auto& entry : node) {
    const std::string key = entry.first.as<std::string>();
    const std::string name = Join(field, key);
    if (key == "cpus") {
      double cpus = 0;
      if (!entry.second.IsScalar() || !YAML::convert<double>::decode(entry.second, cpus)) {
        Fail(name, "expected a number");
      }
      if (cpus < 0) Fail(name, "must not be negative");
      resources->set_cpus(cpus);
      continue;
    }
    const int64_t value = key == "memory_mb" ? Integer(entry.second, name) : Int32(entry.second, name);
    if (value < 0) Fail(name, "must not be negative");
    if (key == "memory_mb") resources->set_memory_mb(value);
    if (key == "gpus") resources->set_gpus(static_cast<int32_t>(value));
  }
}

// One kind's settings, each key handed to `set` (key, value, full field name); `pytorch:`
// with nothing under it means all of Azure's defaults.
template <typename SetField>
void ParseDistributedKind(const YAML::Node& node, const std::string& field,
                          const std::set<std::string>& allowed, SetField set) {
  if (node.IsNull()) return;
  RequireMap(node, field, allowed);
  for (const auto& entry : node) {
    const std::string key = entry.first.as<std::string>();
    set(key, entry.second, Join(field, key));
  }
}

void ParseDistributed(const YAML::Node& node, const std::string& field,
                      runyard::v1::DistributedJobConfig* config) {
  RequireMap(node, field, {"pytorch", "mpi", "tensorflow"});
  if (node.size() != 1) Fail(field, "give exactly one of pytorch, mpi or tensorflow");
  const auto entry = *node.begin();
  const std::string kind = entry.first.as<std::string>();
  const std::string kind_field = Join(field, kind);
  if (kind == "pytorch") {
    runyard::v1::PyTorchConfig* pytorch = config->mutable_pytorch();
    ParseDistributedKind(entry.second, kind_field,
                         {"process_count", "node_count", "communication_backend"},
                         [&](const std::string& key, const YAML::Node& value, const std::string& name) {
                           if (key == "process_count") pytorch->set_process_count(Int32(value, name));
                           if (key == "node_count") pytorch->set_node_count(Int32(value, name));
                           if (key == "communication_backend") {
                             pytorch->set_communication_backend(String(value, name));
                           }
                         });
  }
  if (kind == "mpi") {
    runyard::v1::MpiConfig* mpi = config->mutable_mpi();
    ParseDistributedKind(entry.second, kind_field, {"process_count_per_node", "node_count"},
                         [&](const std::string& key, const YAML::Node& value, const std::string& name) {
                           if (key == "process_count_per_node") {
                             mpi->set_process_count_per_node(Int32(value, name));
                           }
                           if (key == "node_count") mpi->set_node_count(Int32(value, name));
                         });
  }
  if (kind == "tensorflow") {
    runyard::v1::TensorflowConfig* tensorflow = config->mutable_tensorflow();
    ParseDistributedKind(entry.second, kind_field,
                         {"worker_count", "parameter_server_count", "node_count"},
                         [&](const std::string& key, const YAML::Node& value, const std::string& name) {
                           if (key == "worker_count") tensorflow->set_worker_count(Int32(value, name));
                           if (key == "parameter_server_count") {
                             tensorflow->set_parameter_server_count(Int32(value, name));
                           }
                           if (key == "node_count") tensorflow->set_node_count(Int32(value, name));
                         });
  }
}

RunSpec ParseDocument(const YAML::Node& root) {
  RunSpec spec;
  RequireMap(root, "",
             {"experiment", "display_name", "source_directory", "script", "command",
              "arguments", "compute_target", "max_run_duration_seconds", "environment",
              "resources", "tags", "successful_return_codes", "distributed_job_config",
              "azureml_compat"});
  for (const auto& entry : root) {
    const std::string key = entry.first.as<std::string>();
    const YAML::Node& value = entry.second;
    if (key == "experiment") spec.set_experiment(String(value, key));
    if (key == "display_name") spec.set_display_name(String(value, key));
    if (key == "source_directory") spec.set_source_directory(String(value, key));
    if (key == "script") spec.set_script(String(value, key));
    if (key == "compute_target") spec.set_compute_target(String(value, key));
    if (key == "max_run_duration_seconds") spec.set_max_run_duration_seconds(Integer(value, key));
    if (key == "command") {
      // A command is a list, or one string split on whitespace like a shell would.
      if (value.IsScalar()) {
        std::istringstream words(value.Scalar());
        for (std::string word; words >> word;) spec.add_command(word);
      } else {
        for (auto& word : StringList(value, key)) spec.add_command(word);
      }
    }
    if (key == "arguments") {
      for (auto& argument : StringList(value, key)) spec.add_arguments(argument);
    }
    if (key == "environment") ParseEnvironment(value, key, spec.mutable_environment());
    if (key == "resources") ParseResources(value, key, spec.mutable_resources());
    if (key == "tags") StringMap(value, key, spec.mutable_tags());
    // false: the SDK is not put on the script's PYTHONPATH (absent: it is).
    if (key == "azureml_compat") spec.set_azureml_compat(Boolean(value, key));
    if (key == "successful_return_codes") {
      if (!value.IsSequence()) Fail(key, "expected a list of integers");
      for (size_t i = 0; i < value.size(); ++i) {
        spec.add_successful_return_codes(Int32(value[i], absl::StrCat(key, "[", i, "]")));
      }
    }
    if (key == "distributed_job_config") {
      ParseDistributed(value, key, spec.mutable_distributed_job_config());
    }
  }
  return spec;
}

}  // namespace

absl::StatusOr<RunSpec> ParseRunSpecYaml(std::string_view yaml_text) {
  try {
    YAML::Node root = YAML::Load(std::string(yaml_text));
    if (root.IsNull()) return absl::InvalidArgumentError("spec is empty");
    RunSpec spec = ParseDocument(root);
    // Azure's defaults and checks, so that a bad count is the spec's early error.
    if (absl::Status distributed = NormalizeDistributedConfig(&spec); !distributed.ok()) {
      return distributed;
    }
    // What the server holds every request to (valid UTF-8, string and list sizes): yaml-cpp
    // passes any bytes through, and such a spec is better refused here, naming the field.
    if (absl::Status limits = CheckMessageLimits(spec); !limits.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("spec field ", limits.message()));
    }
    return spec;
  } catch (const SpecError& error) {
    return absl::InvalidArgumentError(error.message);
  } catch (const YAML::Exception& error) {
    return absl::InvalidArgumentError(absl::StrCat("spec is not valid YAML: line ",
                                                   error.mark.line + 1, ": ", error.msg));
  }
}

absl::StatusOr<RunSpec> LoadRunSpecFile(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read spec file ", file.string()));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<RunSpec> spec = ParseRunSpecYaml(text.str());
  if (!spec.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(file.string(), ": ", spec.status().message()));
  }
  std::filesystem::path base = std::filesystem::absolute(file).parent_path();
  std::filesystem::path source = spec->source_directory().empty()
                                     ? base
                                     : base / std::filesystem::path(spec->source_directory());
  std::string normal = source.lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  spec->set_source_directory(normal);
  return spec;
}

absl::Status ValidateRunSpec(const RunSpec& spec) {
  auto bad = [](const std::string& field, const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("spec field '", field, "': ", what));
  };
  if (spec.script().empty() && spec.command().empty()) {
    return bad("script", "missing: give a script (or a command) to run");
  }
  if (!spec.script().empty() && !spec.command().empty()) {
    return bad("command", "give either script or command, not both");
  }
  if (spec.max_run_duration_seconds() < 0) {
    return bad("max_run_duration_seconds", "must not be negative");
  }
  for (char c : spec.experiment()) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return bad("experiment", "use letters, digits, '-', '_' and '.' only");
    }
  }
  if (spec.experiment().size() > 255) return bad("experiment", "longer than 255 characters");
  // A spec built from flags or sent by a client never went through the YAML parser.
  RunSpec normalized = spec;
  if (absl::Status distributed = NormalizeDistributedConfig(&normalized); !distributed.ok()) {
    return distributed;
  }
  for (const auto& [name, value] : spec.environment().environment_variables()) {
    if (name.empty() || name.find('=') != std::string::npos ||
        name.find('\0') != std::string::npos) {
      return bad("environment.environment_variables." + name, "is not a valid variable name");
    }
  }
  return CheckSecretVariablesExist(spec.environment());
}

}  // namespace runyard::common
