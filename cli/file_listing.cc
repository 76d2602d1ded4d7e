#include "cli/file_listing.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/run_error_code.h"
#include "common/status_names.h"

namespace runyard::cli {

UploadState FilesUploadState(const runyard::v1::Run& run) {
  if (!common::IsTerminal(run.status())) return UploadState::kUploading;
  if (run.error().code() == common::RunErrorCodeName(common::RunErrorCode::kAgentLost))
    return UploadState::kIncomplete;
  return UploadState::kComplete;
}

std::string UploadStateName(UploadState state) {
  switch (state) {
    case UploadState::kUploading:
      return "uploading";
    case UploadState::kComplete:
      return "complete";
    case UploadState::kIncomplete:
      return "incomplete";
  }
  return "unknown";
}

nlohmann::json FilesToJson(const std::vector<runyard::v1::FileInfo>& files, UploadState state) {
  nlohmann::json json = nlohmann::json::array();
  for (const auto& file : files) {
    json.push_back({{"path", file.path()},
                    {"size", file.size()},
                    {"complete", state == UploadState::kComplete},
                    {"upload", UploadStateName(state)}});
  }
  return json;
}

std::string FileTable(const std::vector<runyard::v1::FileInfo>& files, UploadState state) {
  std::string text = absl::StrFormat("%12s  %-10s  %s\n", "SIZE", "UPLOAD", "PATH");
  for (const auto& file : files) {
    absl::StrAppend(&text, absl::StrFormat("%12d  %-10s  %s\n", file.size(), UploadStateName(state),
                                           file.path()));
  }
  return text;
}

std::string UploadStateNote(const runyard::v1::Run& run, UploadState state) {
  const std::string status = common::StatusName(run.status());
  switch (state) {
    case UploadState::kUploading:
      return absl::StrCat(run.run_id(), " is ", status,
                          ": its files are still uploading (sizes grow until the run ends)");
    case UploadState::kComplete:
      return absl::StrCat(run.run_id(), " is ", status, ": every file is complete");
    case UploadState::kIncomplete:
      return absl::StrCat(
          run.run_id(), " is ", status, " (", run.error().code(),
          "): its files hold what arrived from its lost agent; some bytes may be missing, or still "
          "come if that agent is started again");
  }
  return "";
}

}  // namespace runyard::cli
