#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace runyard::runtime {

// A run's secret values beside its upload spool (<spool>.secrets, mode 0600), so that an
// agent process finishing what a dead one left (runtime/upload_salvage.h) masks the run's
// logs as the dead one did. They are no more exposed there than in the run's own
// environment and logs on this node; the file goes with the spool.
absl::Status WriteSpooledSecrets(const std::filesystem::path& file,
                                 const std::vector<std::string>& secrets);
// Nothing when there is no such file (a run without secrets) or it is unreadable.
std::vector<std::string> ReadSpooledSecrets(const std::filesystem::path& file);

}  // namespace runyard::runtime
