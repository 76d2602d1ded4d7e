#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "runyard/v1/spec.pb.h"

namespace runyard::common {

// Which environment variables hold secrets: those listed in
// environment.secret_variables, and those whose name (ASCII case-insensitive) ends
// with _TOKEN, _SECRET, _PASSWORD, _KEY or _CONNECTION_STRING or is one of those words
// alone (TOKEN, PASSWORD, ...): a bare PASSWORD is no less secret than DB_PASSWORD.
// A name merely containing a word (MONKEY, TOKENIZER_PATH) is not secret.
bool IsSecretVariable(std::string_view name, const runyard::v1::Environment& environment);

// Secrets shorter than this are not searched for in logs: masking every "abc" or "1"
// in a log would ruin it and hide nothing of worth.
inline constexpr size_t kMinRedactedSecretBytes = 4;

// The values of the spec's secret variables that logs must not show: at least
// kMinRedactedSecretBytes long, de-duplicated, longest first (so a secret that
// contains another is masked whole).
std::vector<std::string> SecretValues(const runyard::v1::RunSpec& spec);

// The mask a stored spec shows in place of a secret value.
inline constexpr std::string_view kSecretValueMask = "***";

// Replaces the value of every secret variable with kSecretValueMask (whatever its
// length), keeping the name, so read APIs show that the variable exists.
void MaskSecretValues(runyard::v1::RunSpec* spec);

}  // namespace runyard::common
