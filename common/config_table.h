#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace YAML {
class Node;
}  // namespace YAML

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace runyard::common {

// A daemon's options, each declared once: its YAML key, what it means, and the field it
// fills. From that one list come the config file reader (an unknown key or a bad value
// is an error naming the key), a command-line flag per key (`--work-dir` for work_dir;
// flags override the file), and the effective configuration `--check-config` prints.
class ConfigTable {
 public:
  explicit ConfigTable(std::string what);
  ~ConfigTable();
  ConfigTable(const ConfigTable&) = delete;
  ConfigTable& operator=(const ConfigTable&) = delete;

  void Add(const std::string& key, const std::string& help, std::string* field);
  void Add(const std::string& key, const std::string& help, std::filesystem::path* field);
  void Add(const std::string& key, const std::string& help, int* field);
  void Add(const std::string& key, const std::string& help, int64_t* field);
  void Add(const std::string& key, const std::string& help, bool* field);
  void Add(const std::string& key, const std::string& help, std::vector<std::string>* field);
  void Add(const std::string& key, const std::string& help, std::map<std::string, std::string>* field);

  // One flag per key. A bool key takes an optional value (`--pip-no-index`,
  // `--sandbox-network=false`); a list or map key repeats (`--label gpu=a100`).
  void AddFlags(CLI::App& app);
  // `--<alias>` sets bool `key` to `value` (kept so older flags go on working).
  void AddBoolAlias(CLI::App& app, const std::string& alias, const std::string& key, bool value,
                    const std::string& help);

  // Reads a YAML mapping of keys; a key with no value keeps its default.
  absl::Status LoadFile(const std::filesystem::path& file);
  // After parsing: the flags that were given, over what the file said.
  absl::Status ApplyFlags();
  // The effective configuration as YAML, one `key: value  # help` line per key.
  std::string Render() const;

 private:
  struct Field;
  Field* Find(const std::string& key);
  enum class Shape { kScalar, kBool, kList, kMap };  // how a flag gives the value
  void AddField(const std::string& key, const std::string& help, Shape shape,
                std::function<void(const YAML::Node&)> load, std::function<std::string()> render);

  std::string what_;  // "agent config": named in every error
  std::vector<std::unique_ptr<Field>> fields_;
};

}  // namespace runyard::common
