#pragma once

// The one place that picks a run's sandbox class.

#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "sandbox/bubblewrap.h"
#include "sandbox/sandbox.h"

namespace runyard::sandbox {

// A run's own folders, which its sandbox must leave usable even where the agent's files
// are hidden.
struct RunFolders {
  std::vector<std::filesystem::path> writable;  // its working directory, its home
  std::vector<std::filesystem::path> readable;  // its managed environment (venv, conda prefix)
};

// Bubblewrap when the agent is configured with a policy (that policy plus the run's
// folders), else the host.
std::unique_ptr<Sandbox> SandboxForRun(const std::optional<BubblewrapPolicy>& bubblewrap,
                                       const RunFolders& folders);

}  // namespace runyard::sandbox
