#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runyard/v1/run.pb.h"

namespace runyard::cli {

// Paths a server lists are untrusted. Before one names a local file it must be a plain
// relative path: not absolute, no empty, "." or ".." component, no NUL, names the file
// system accepts. Returns its components, or InvalidArgument naming the path.
absl::StatusOr<std::vector<std::string>> SplitDownloadPath(const std::string& run_path);

// The files whose path starts with `prefix`, as a plain string match ("outputs/" is a
// folder, "outputs/model" also matches outputs/model_v2.npz); an empty prefix matches all.
std::vector<runyard::v1::FileInfo> FilesUnderPrefix(const std::vector<runyard::v1::FileInfo>& files,
                                                    const std::string& prefix);

}  // namespace runyard::cli
