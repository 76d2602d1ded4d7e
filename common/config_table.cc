#include "common/config_table.h"

#include <functional>
#include <sstream>
#include <utility>

#include <CLI/CLI.hpp>
#include <yaml-cpp/yaml.h>

#include "absl/strings/str_cat.h"

namespace runyard::common {
namespace {

std::string FlagName(const std::string& key) {
  std::string flag = "--" + key;
  for (char& c : flag) {
    if (c == '_') c = '-';
  }
  return flag;
}

// A scalar written the way YAML reads it back (quoted where it must be).
std::string YamlScalar(const std::string& value) {
  YAML::Emitter out;
  out << value;
  return out.c_str();
}

}  // namespace

// How one field is read from YAML or from a flag's text, and written back.
struct ConfigTable::Field {
  std::string key;
  std::string help;
  Shape shape = Shape::kScalar;
  std::function<void(const YAML::Node&)> load;  // throws YAML::Exception on a bad value
  std::function<std::string()> render;
  std::vector<std::string> flag_values;  // what the flags said, applied by ApplyFlags
  CLI::Option* option = nullptr;
  std::vector<std::pair<CLI::Option*, bool>> aliases;  // bool flags that set a fixed value
  bool alias_given = false;
};

ConfigTable::ConfigTable(std::string what) : what_(std::move(what)) {}
ConfigTable::~ConfigTable() = default;

ConfigTable::Field* ConfigTable::Find(const std::string& key) {
  for (const auto& field : fields_) {
    if (field->key == key) return field.get();
  }
  return nullptr;
}

void ConfigTable::AddField(const std::string& key, const std::string& help, Shape shape,
                           std::function<void(const YAML::Node&)> load, std::function<std::string()> render) {
  auto field = std::make_unique<Field>();
  field->key = key;
  field->help = help;
  field->shape = shape;
  field->load = std::move(load);
  field->render = std::move(render);
  fields_.push_back(std::move(field));
}

void ConfigTable::Add(const std::string& key, const std::string& help, std::string* target) {
  AddField(key, help, Shape::kScalar, [target](const YAML::Node& node) {
    if (!node.IsScalar()) throw YAML::Exception(YAML::Mark::null_mark(), "expected a string");
    *target = node.as<std::string>();
  }, [target] { return YamlScalar(*target); });
}

void ConfigTable::Add(const std::string& key, const std::string& help, std::filesystem::path* target) {
  AddField(key, help, Shape::kScalar, [target](const YAML::Node& node) {
    if (!node.IsScalar()) throw YAML::Exception(YAML::Mark::null_mark(), "expected a path");
    *target = node.as<std::string>();
  }, [target] { return YamlScalar(target->string()); });
}

void ConfigTable::Add(const std::string& key, const std::string& help, int* target) {
  AddField(key, help, Shape::kScalar,
           [target](const YAML::Node& node) { *target = node.as<int>(); },
           [target] { return std::to_string(*target); });
}

void ConfigTable::Add(const std::string& key, const std::string& help, int64_t* target) {
  AddField(key, help, Shape::kScalar,
           [target](const YAML::Node& node) { *target = node.as<int64_t>(); },
           [target] { return std::to_string(*target); });
}

void ConfigTable::Add(const std::string& key, const std::string& help, bool* target) {
  AddField(key, help, Shape::kBool,
           [target](const YAML::Node& node) { *target = node.as<bool>(); },
           [target] { return *target ? std::string("true") : std::string("false"); });
}

void ConfigTable::Add(const std::string& key, const std::string& help, std::vector<std::string>* target) {
  AddField(key, help, Shape::kList,
           [target](const YAML::Node& node) { *target = node.as<std::vector<std::string>>(); }, [target] {
             std::string text = "[";
             for (size_t i = 0; i < target->size(); ++i) text += (i ? ", " : "") + YamlScalar((*target)[i]);
             return text + "]";
           });
}

void ConfigTable::Add(const std::string& key, const std::string& help,
                      std::map<std::string, std::string>* target) {
  AddField(key, help, Shape::kMap,
           [target](const YAML::Node& node) { *target = node.as<std::map<std::string, std::string>>(); }, [target] {
             std::string text = "{";
             bool first = true;
             for (const auto& [name, value] : *target) {
               text += (first ? "" : ", ") + YamlScalar(name) + ": " + YamlScalar(value);
               first = false;
             }
             return text + "}";
           });
}

void ConfigTable::AddFlags(CLI::App& app) {
  for (const auto& field : fields_) {
    const std::string flag = FlagName(field->key);
    switch (field->shape) {
      case Shape::kScalar:
        field->option = app.add_option(flag, field->flag_values, field->help)->expected(1)->type_name("VALUE");
        break;
      case Shape::kBool:
        // `--flag` alone means true; `--flag=false` says otherwise.
        field->option = app.add_flag(flag, field->flag_values, field->help + " (--" + flag.substr(2) + "=false to turn off)")
                            ->expected(0, 1);
        break;
      case Shape::kList:
        field->option = app.add_option(flag, field->flag_values, field->help + " (repeatable)");
        break;
      case Shape::kMap:
        field->option = app.add_option(flag, field->flag_values, field->help + " (repeatable, NAME=VALUE)");
        break;
    }
  }
}

void ConfigTable::AddBoolAlias(CLI::App& app, const std::string& alias, const std::string& key, bool value,
                               const std::string& help) {
  Field* field = Find(key);
  if (field == nullptr) return;
  CLI::Option* option = app.add_flag(alias, field->alias_given, help);
  field->aliases.emplace_back(option, value);
}

absl::Status ConfigTable::LoadFile(const std::filesystem::path& file) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(file.string());
  } catch (const YAML::Exception& error) {
    return absl::InvalidArgumentError(absl::StrCat(what_, " ", file.string(), ": ", error.what()));
  }
  if (root.IsNull()) return absl::OkStatus();
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(what_, " ", file.string(), ": expected a mapping of keys"));
  }
  for (const auto& entry : root) {
    const std::string key = entry.first.as<std::string>();
    Field* field = Find(key);
    if (field == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(what_, " ", file.string(), ": unknown key '", key, "'"));
    }
    if (entry.second.IsNull()) continue;  // "key:" with no value keeps the default
    try {
      field->load(entry.second);
    } catch (const YAML::Exception&) {
      return absl::InvalidArgumentError(absl::StrCat(what_, " ", file.string(), ": key '", key,
                                                     "' has a value of the wrong type (", field->help, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status ConfigTable::ApplyFlags() {
  for (const auto& field : fields_) {
    for (const auto& [option, value] : field->aliases) {
      if (option->count() > 0) field->load(YAML::Node(value));
    }
    if (field->option == nullptr || field->option->count() == 0) continue;
    YAML::Node node;
    switch (field->shape) {
      case Shape::kScalar:
        node = YAML::Node(field->flag_values.back());
        break;
      case Shape::kBool:  // a bare flag comes as "1" (or empty)
        node = YAML::Node(field->flag_values.empty() || field->flag_values.back() == "1" ||
                                  field->flag_values.back().empty()
                              ? std::string("true")
                              : field->flag_values.back());
        break;
      case Shape::kList:
        for (const std::string& value : field->flag_values) node.push_back(value);
        break;
      case Shape::kMap:
        for (const std::string& pair : field->flag_values) {
          const size_t equals = pair.find('=');
          if (equals == std::string::npos || equals == 0) {
            return absl::InvalidArgumentError(
                absl::StrCat(FlagName(field->key), " ", pair, ": expected NAME=VALUE"));
          }
          node[pair.substr(0, equals)] = pair.substr(equals + 1);
        }
        break;
    }
    try {
      field->load(node);
    } catch (const YAML::Exception&) {
      return absl::InvalidArgumentError(absl::StrCat(FlagName(field->key), " ", field->flag_values.back(),
                                                     ": not a valid value (", field->help, ")"));
    }
  }
  return absl::OkStatus();
}

std::string ConfigTable::Render() const {
  std::ostringstream out;
  for (const auto& field : fields_) {
    out << field->key << ": " << field->render() << "  # " << field->help << "\n";
  }
  return out.str();
}

}  // namespace runyard::common
