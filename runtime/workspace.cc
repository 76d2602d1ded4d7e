#include "runtime/workspace.h"

#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/relative_path.h"
#include "runtime/overlay.h"

namespace runyard::runtime {

absl::StatusOr<Workspace> CreateWorkspace(const std::filesystem::path& work_dir,
                                          const std::string& run_id) {
  if (absl::Status ok = common::CheckRelativePath(run_id);
      !ok.ok() || run_id.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("bad run id '", run_id, "'"));
  }
  Workspace ws;
  ws.root = work_dir / "runs" / run_id;
  ws.working_dir = ws.root / "wd";
  ws.user_logs = ws.root / "user_logs";
  ws.system_logs = ws.root / "system_logs";
  std::error_code ec;
  UnmountStale(ws.working_dir);  // never delete through a mount a crashed run left behind
  std::filesystem::remove_all(ws.root, ec);
  for (const auto& dir : {ws.working_dir, ws.user_logs, ws.system_logs}) {
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return absl::InternalError(absl::StrCat("cannot create ", dir.string(), ": ", ec.message()));
    }
  }
  return ws;
}

}  // namespace runyard::runtime
