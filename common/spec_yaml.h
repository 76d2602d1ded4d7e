#pragma once

#include <filesystem>
#include <string_view>

#include "absl/status/statusor.h"
#include "runyard/v1/spec.pb.h"

namespace runyard::common {

// Parses a run spec written in YAML (field names as in ScriptRunConfig). Strict: an
// unknown field, a value of the wrong type or a malformed document is an
// InvalidArgument error whose message names the field, e.g.
//   spec field 'environment.python.interpreter_path': expected a string
absl::StatusOr<runyard::v1::RunSpec> ParseRunSpecYaml(std::string_view yaml_text);

// Reads and parses a spec file; a relative source_directory is made relative to the
// file's own folder (an absent one means that folder).
absl::StatusOr<runyard::v1::RunSpec> LoadRunSpecFile(const std::filesystem::path& file);

// Checks what makes a spec runnable regardless of where it came from (file or flags):
// exactly one of script/command, sane numbers, a usable experiment name.
absl::Status ValidateRunSpec(const runyard::v1::RunSpec& spec);

// Seconds a run may last when the spec says 0: 30 days, as in Azure ML.
inline constexpr int64_t kDefaultMaxRunDurationSeconds = 30LL * 24 * 3600;

}  // namespace runyard::common
