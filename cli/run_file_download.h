#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/backend.h"
#include "cli/download_folder.h"
#include "cli/download_progress.h"

namespace runyard::cli {

// Copies one run file into `file` chunk by chunk (never whole in memory). A stream that
// breaks off (server restart, network) is read again from the bytes already written; one
// that broke off 5 times in a row without a byte gives up (waiting `first_retry_delay`,
// doubling, in between). A file found shorter than what was read (rewritten in place
// while its run runs) is read again from its start. `listed` is the file as listed: its
// size is what `progress` expects.
absl::Status FetchRunFile(RunBackend& backend, const std::string& run_id, const runyard::v1::FileInfo& listed,
                          PartialFile& file, DownloadProgress* progress,
                          std::chrono::milliseconds first_retry_delay = std::chrono::milliseconds(200));

struct PrefixDownloadResult {
  int64_t files = 0;
  int64_t bytes = 0;
};

// Downloads `files` (run paths, as listed) into `folder`, each at its run path below it
// (outputs/a/b.txt -> FOLDER/outputs/a/b.txt). Every path is checked before the first
// byte is written: one that is absolute, has a ".." or would otherwise leave the folder
// refuses the whole download, naming that path.
absl::StatusOr<PrefixDownloadResult> DownloadFiles(RunBackend& backend, const std::string& run_id,
                                                   const std::vector<runyard::v1::FileInfo>& files,
                                                   const std::filesystem::path& folder, DownloadProgress& progress);

}  // namespace runyard::cli
