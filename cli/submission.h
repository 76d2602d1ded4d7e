#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runyard/v1/spec.pb.h"

namespace runyard::cli {

// What `runyard submit` was told on its command line; each flag overrides the spec file.
struct SubmitFlags {
  std::string spec_file;
  std::string source_directory;
  std::string script;
  std::string target;
  std::string experiment;
  std::optional<int64_t> max_run_duration_seconds;
  std::string interpreter;
  std::vector<std::string> environment_variables;  // NAME=VALUE
  std::vector<std::string> arguments;              // after --
  bool arguments_given = false;
  int64_t max_snapshot_mb = 0;                     // 0: the store's default
  int64_t max_snapshot_files = 0;
};

// The spec to submit: the YAML file (if any), then the flags, validated; the script must
// exist inside the source directory. Errors name the field or flag.
absl::StatusOr<runyard::v1::RunSpec> BuildSpec(const SubmitFlags& flags);

}  // namespace runyard::cli
