#include "sandbox/sandbox_factory.h"

#include "sandbox/bubblewrap_sandbox.h"
#include "sandbox/host_sandbox.h"

namespace runyard::sandbox {

std::unique_ptr<Sandbox> SandboxForRun(const std::optional<BubblewrapPolicy>& bubblewrap,
                                       const RunFolders& folders) {
  if (!bubblewrap) return std::make_unique<HostSandbox>();
  BubblewrapPolicy policy = *bubblewrap;
  policy.writable.insert(policy.writable.end(), folders.writable.begin(), folders.writable.end());
  policy.readable.insert(policy.readable.end(), folders.readable.begin(), folders.readable.end());
  return std::make_unique<BubblewrapSandbox>(std::move(policy));
}

}  // namespace runyard::sandbox
