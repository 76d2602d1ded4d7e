#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runyard/v1/run.pb.h"

namespace runyard::cli {

// How far a run's files have reached the run history. The agent sends every byte before
// it reports the terminal status, so the files of an ended run are complete; while the
// run runs they grow (outputs/ and logs/ are sent within ~2 s of a change). A run that
// ended because its agent was lost (AgentLost) may lack bytes the script wrote, or get
// them later from a restarted agent that salvages its spool: its files are incomplete.
enum class UploadState { kUploading, kComplete, kIncomplete };

// `run` must have been read BEFORE the files were listed: a run seen terminal then means
// the listing that follows holds every byte.
UploadState FilesUploadState(const runyard::v1::Run& run);
// "uploading", "complete", "incomplete"
std::string UploadStateName(UploadState state);

// [{path, size, complete, upload}] for `runyard files --json`.
nlohmann::json FilesToJson(const std::vector<runyard::v1::FileInfo>& files, UploadState state);
// A SIZE / UPLOAD / PATH table.
std::string FileTable(const std::vector<runyard::v1::FileInfo>& files, UploadState state);
// One line that says what the state means for this run, e.g. "run-1 is Running: ...".
std::string UploadStateNote(const runyard::v1::Run& run, UploadState state);

}  // namespace runyard::cli
