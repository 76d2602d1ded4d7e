#include "common/secret_names.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace runyard::common {
namespace {

// The default secret names: the word alone, or as the suffix "_WORD".
constexpr std::array<std::string_view, 5> kSecretWords = {"TOKEN", "SECRET", "PASSWORD", "KEY",
                                                          "CONNECTION_STRING"};

bool EndsWithIgnoringCase(std::string_view name, std::string_view upper_suffix) {
  if (name.size() < upper_suffix.size()) return false;
  std::string_view tail = name.substr(name.size() - upper_suffix.size());
  for (size_t i = 0; i < tail.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(tail[i])) != upper_suffix[i]) return false;
  }
  return true;
}

bool HasSecretWord(std::string_view name) {
  for (std::string_view word : kSecretWords) {
    if (!EndsWithIgnoringCase(name, word)) continue;
    if (name.size() == word.size() || name[name.size() - word.size() - 1] == '_') return true;
  }
  return false;
}

}  // namespace

bool IsSecretVariable(std::string_view name, const runyard::v1::Environment& environment) {
  for (const std::string& listed : environment.secret_variables()) {
    if (listed == name) return true;
  }
  return HasSecretWord(name);
}

std::vector<std::string> SecretValues(const runyard::v1::RunSpec& spec) {
  std::vector<std::string> values;
  const runyard::v1::Environment& environment = spec.environment();
  for (const auto& [name, value] : environment.environment_variables()) {
    if (value.size() >= kMinRedactedSecretBytes && IsSecretVariable(name, environment)) {
      values.push_back(value);
    }
  }
  std::sort(values.begin(), values.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() > b.size() : a < b;
  });
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

void MaskSecretValues(runyard::v1::RunSpec* spec) {
  runyard::v1::Environment* environment = spec->mutable_environment();
  for (auto& [name, value] : *environment->mutable_environment_variables()) {
    if (IsSecretVariable(name, *environment)) value = std::string(kSecretValueMask);
  }
}

}  // namespace runyard::common
