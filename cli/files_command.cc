// `runyard files RUN`: each file's size and whether its upload is complete.
#include <iostream>

#include "cli/command_support.h"
#include "cli/commands.h"
#include "cli/file_listing.h"

namespace runyard::cli {

int FilesCommand(const GlobalOptions& global, const std::string& run_id) {
  absl::StatusOr<std::unique_ptr<RunBackend>> backend = BackendForRun(global, run_id);
  if (!backend.ok()) return Fail(backend.status());
  // The run first: seen terminal, it had sent every byte, so the listing after is final.
  absl::StatusOr<runyard::v1::Run> run = (*backend)->Get(run_id);
  if (!run.ok()) return Fail(run.status());
  absl::StatusOr<std::vector<runyard::v1::FileInfo>> files = (*backend)->ListFiles(run_id);
  if (!files.ok()) return Fail(files.status());
  const UploadState state = FilesUploadState(*run);
  if (global.json) {
    PrintJson(FilesToJson(*files, state));
  } else {
    std::cout << FileTable(*files, state) << std::flush;
    std::cerr << UploadStateNote(*run, state) << "\n";
  }
  return 0;
}

}  // namespace runyard::cli
