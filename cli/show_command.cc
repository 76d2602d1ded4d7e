// `runyard show RUN`: everything known of a run (Azure's run.get_details()): definition,
// status and timings, parent and children, tags, properties, usage, log files, outputs.
#include <iostream>

#include "cli/command_support.h"
#include "cli/commands.h"
#include "cli/render.h"
#include "cli/run_details.h"

namespace runyard::cli {

int ShowCommand(const GlobalOptions& global, const std::string& run_id) {
  absl::StatusOr<std::unique_ptr<RunBackend>> backend = BackendForRun(global, run_id);
  if (!backend.ok()) return Fail(backend.status());
  RunDetails details;
  absl::StatusOr<runyard::v1::Run> run = (*backend)->Get(run_id);
  if (!run.ok()) return Fail(run.status());
  details.run = std::move(*run);

  runyard::v1::ListRunsRequest children;
  children.set_parent_run_id(run_id);
  children.set_limit(10000);  // the most children a run may have (max_children_per_run)
  children.set_include_archived(true);
  absl::StatusOr<std::vector<runyard::v1::Run>> found = (*backend)->List(children);
  if (!found.ok()) return Fail(found.status());
  details.children = std::move(*found);
  std::sort(details.children.begin(), details.children.end(), [](const auto& a, const auto& b) {
    if (a.created_unix_ms() != b.created_unix_ms())
      return a.created_unix_ms() < b.created_unix_ms();
    return a.run_id().size() != b.run_id().size() ? a.run_id().size() < b.run_id().size()
                                                  : a.run_id() < b.run_id();
  });

  // Without a listing the details still stand: they say the files could not be read.
  absl::StatusOr<std::vector<runyard::v1::FileInfo>> files = (*backend)->ListFiles(run_id);
  details.files_listed = files.ok();
  if (files.ok()) details.files = std::move(*files);

  if (global.json) {
    PrintJson(DetailsToJson(details));
  } else {
    std::cout << RenderDetails(details) << std::flush;
    if (!files.ok())
      std::cerr << "runyard: cannot list the files of " << run_id << ": "
                << files.status().message() << "\n";
  }
  return 0;
}

}  // namespace runyard::cli
