// `runyard download RUN PATH -o FILE` (one file) and `runyard download RUN --prefix P -o DIR`
// (every file whose path starts with P; a folder PATH such as outputs/ is the same).
#include <unistd.h>

#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/command_support.h"
#include "cli/commands.h"
#include "cli/download_folder.h"
#include "cli/download_paths.h"
#include "cli/download_progress.h"
#include "cli/file_listing.h"
#include "cli/run_file_download.h"
#include "common/snapshot_manifest.h"

namespace runyard::cli {
namespace fs = std::filesystem;
namespace {

bool ProgressWanted(const GlobalOptions& global) { return !global.json && ::isatty(STDOUT_FILENO) != 0; }

// While a run runs, what is downloaded is what had arrived so far.
void WarnIfUploading(const runyard::v1::Run& run, UploadState state) {
  if (state != UploadState::kComplete) std::cerr << "runyard: note: " << UploadStateNote(run, state) << "\n";
}

int DownloadOneFile(const GlobalOptions& global, RunBackend& backend, const runyard::v1::Run& run,
                    const runyard::v1::FileInfo& file, const std::string& destination) {
  absl::StatusOr<std::vector<std::string>> parts = SplitDownloadPath(file.path());
  if (!parts.ok()) return Fail(parts.status());
  fs::path target = destination.empty() ? fs::path(parts->back()) : fs::path(destination);
  if (absl::EndsWith(destination, "/") || fs::is_directory(target)) target /= parts->back();
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");

  absl::StatusOr<DownloadFolder> into = DownloadFolder::Open(folder);
  if (!into.ok()) return Fail(into.status());
  absl::StatusOr<std::unique_ptr<PartialFile>> partial = into->Create({target.filename().string()});
  if (!partial.ok()) return Fail(partial.status());
  DownloadProgress progress(ProgressWanted(global) && file.size() > (4 << 20), stdout, file.size(), 1);
  absl::Status read = FetchRunFile(backend, run.run_id(), file, **partial, &progress);
  progress.Finish();
  if (!read.ok()) return Fail(read);
  const int64_t bytes = (*partial)->size();
  if (absl::Status done = (*partial)->Commit(); !done.ok()) return Fail(done);

  const UploadState state = FilesUploadState(run);
  if (global.json) {
    PrintJson({{"run_id", run.run_id()},
               {"files", 1},
               {"path", file.path()},
               {"file", target.string()},
               {"bytes", bytes},
               {"complete", state == UploadState::kComplete}});
  } else {
    std::cerr << "downloaded " << file.path() << " -> " << target.string() << "\n";
    WarnIfUploading(run, state);
  }
  return 0;
}

int DownloadPrefix(const GlobalOptions& global, RunBackend& backend, const runyard::v1::Run& run,
                   const std::vector<runyard::v1::FileInfo>& files, const std::string& prefix,
                   const std::string& destination) {
  const UploadState state = FilesUploadState(run);
  const std::vector<runyard::v1::FileInfo> selected = FilesUnderPrefix(files, prefix);
  if (selected.empty()) {
    return Fail(absl::NotFoundError(absl::StrCat(
        "run ", run.run_id(), " has no files under '", prefix, "'",
        state == UploadState::kUploading ? " yet (it is still running)" : "", " (see runyard files ", run.run_id(),
        ")")));
  }
  int64_t listed_bytes = 0;
  for (const auto& file : selected) listed_bytes += file.size();
  const fs::path folder = destination.empty() ? fs::path(".") : fs::path(destination);

  DownloadProgress progress(ProgressWanted(global), stdout, listed_bytes, static_cast<int64_t>(selected.size()));
  absl::StatusOr<PrefixDownloadResult> result = DownloadFiles(backend, run.run_id(), selected, folder, progress);
  progress.Finish();
  if (!result.ok()) return Fail(result.status());

  if (global.json) {
    nlohmann::json paths = nlohmann::json::array();
    for (const auto& file : selected) paths.push_back(file.path());
    PrintJson({{"run_id", run.run_id()},
               {"prefix", prefix},
               {"directory", folder.string()},
               {"files", result->files},
               {"bytes", result->bytes},
               {"complete", state == UploadState::kComplete},
               {"upload", UploadStateName(state)},
               {"paths", paths}});
  } else {
    std::cout << "downloaded " << result->files << (result->files == 1 ? " file" : " files") << ", "
              << common::HumanBytes(result->bytes) << ", under '" << prefix << "' of " << run.run_id() << " to "
              << folder.string() << "\n";
    WarnIfUploading(run, state);
  }
  return 0;
}

}  // namespace

int DownloadCommand(const GlobalOptions& global, const DownloadOptions& options) {
  if (options.prefix && !options.path.empty()) {
    return Fail(absl::InvalidArgumentError("give either a PATH or --prefix, not both"));
  }
  if (!options.prefix && options.path.empty()) {
    return Fail(absl::InvalidArgumentError(
        "say what to download: a file (outputs/model.npz), a folder (outputs/) or --prefix outputs/"));
  }
  absl::StatusOr<std::unique_ptr<RunBackend>> backend = BackendForRun(global, options.run_id);
  if (!backend.ok()) return Fail(backend.status());
  // The run before the listing: seen terminal, the listing after it is final.
  absl::StatusOr<runyard::v1::Run> run = (*backend)->Get(options.run_id);
  if (!run.ok()) return Fail(run.status());
  absl::StatusOr<std::vector<runyard::v1::FileInfo>> files = (*backend)->ListFiles(options.run_id);
  if (!files.ok()) return Fail(files.status());

  if (options.prefix) return DownloadPrefix(global, **backend, *run, *files, *options.prefix, options.destination);
  // A PATH is a file when one has that exact path, else a folder.
  std::string path = options.path;
  while (!path.empty() && path.back() == '/') path.pop_back();
  for (const auto& file : *files) {
    if (file.path() == path) return DownloadOneFile(global, **backend, *run, file, options.destination);
  }
  return DownloadPrefix(global, **backend, *run, *files, path + "/", options.destination);
}

}  // namespace runyard::cli
