#include "cli/run_file_download.h"

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cli/download_paths.h"

namespace runyard::cli {
namespace {

constexpr int kAttempts = 5;

bool WorthRetrying(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status) || absl::IsAborted(status);
}

}  // namespace

absl::Status FetchRunFile(RunBackend& backend, const std::string& run_id, const runyard::v1::FileInfo& listed,
                          PartialFile& file, DownloadProgress* progress, std::chrono::milliseconds first_retry_delay) {
  const std::string& path = listed.path();
  int64_t expected_size = listed.size();  // what the progress total counts for this file
  int failures = 0;                       // in a row, without a byte read
  auto delay = first_retry_delay;
  while (true) {
    const int64_t had = file.size();
    bool shrunk = false;
    bool first_chunk = true;
    absl::Status read = backend.ReadFile(run_id, path, had, [&](std::string_view bytes, int64_t size) -> absl::Status {
      if (first_chunk) {
        first_chunk = false;
        if (size < file.size()) {
          shrunk = true;
          return absl::AbortedError(absl::StrCat(path, " was rewritten while it was read"));
        }
        if (progress != nullptr && size != expected_size) progress->AdjustTotal(size - expected_size);
        expected_size = size;
      }
      if (absl::Status written = file.Write(bytes); !written.ok()) return written;
      if (progress != nullptr) progress->AddBytes(static_cast<int64_t>(bytes.size()));
      return absl::OkStatus();
    });
    if (read.ok()) return read;
    if (shrunk) {
      if (progress != nullptr) progress->AddBytes(-file.size());
      if (absl::Status restarted = file.Restart(); !restarted.ok()) return restarted;
      continue;
    }
    if (!WorthRetrying(read)) return read;
    if (file.size() > had) {  // it moved on before it broke: go on at once
      failures = 0;
      delay = first_retry_delay;
      continue;
    }
    if (++failures >= kAttempts) {
      return absl::Status(read.code(), absl::StrCat("cannot read ", path, " of run ", run_id, " (", kAttempts,
                                                    " attempts in a row failed): ", read.message()));
    }
    std::this_thread::sleep_for(delay);
    delay *= 2;
  }
}

absl::StatusOr<PrefixDownloadResult> DownloadFiles(RunBackend& backend, const std::string& run_id,
                                                   const std::vector<runyard::v1::FileInfo>& files,
                                                   const std::filesystem::path& folder, DownloadProgress& progress) {
  std::vector<std::vector<std::string>> parts;
  for (const auto& file : files) {
    absl::StatusOr<std::vector<std::string>> checked = SplitDownloadPath(file.path());
    if (!checked.ok()) return checked.status();
    parts.push_back(std::move(*checked));
  }
  absl::StatusOr<DownloadFolder> into = DownloadFolder::Open(folder);
  if (!into.ok()) return into.status();
  PrefixDownloadResult result;
  for (size_t i = 0; i < files.size(); ++i) {
    absl::StatusOr<std::unique_ptr<PartialFile>> partial = into->Create(parts[i]);
    if (!partial.ok()) return partial.status();
    if (absl::Status read = FetchRunFile(backend, run_id, files[i], **partial, &progress); !read.ok()) {
      return read;
    }
    result.bytes += (*partial)->size();
    if (absl::Status done = (*partial)->Commit(); !done.ok()) return done;
    ++result.files;
    progress.FileDone();
  }
  return result;
}

}  // namespace runyard::cli
