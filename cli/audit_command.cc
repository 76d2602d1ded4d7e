// `runyard audit [--target ID] [--limit N]`: the server's audit log, newest first.
#include <iostream>

#include "cli/access_client.h"
#include "cli/access_listing.h"
#include "cli/command_support.h"
#include "cli/commands.h"

namespace runyard::cli {

int AuditCommand(const GlobalOptions& global, const AuditOptions& options) {
  absl::StatusOr<std::unique_ptr<AccessClient>> access = ConnectAccess(global);
  if (!access.ok()) return Fail(access.status());
  runyard::v1::ListAuditRequest request;
  request.set_limit(options.limit);
  request.set_target(options.target);
  absl::StatusOr<std::vector<runyard::v1::AuditEvent>> events = (*access)->ListAudit(request);
  if (!events.ok()) return Fail(events.status());
  if (global.json) {
    PrintJson(AuditToJson(*events));
  } else if (events->empty()) {
    std::cerr << "runyard: no audit events" << (options.target.empty() ? "" : " about " + options.target) << "\n";
  } else {
    std::cout << AuditTable(*events) << std::flush;
  }
  return 0;
}

}  // namespace runyard::cli
