#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runyard/v1/run.pb.h"
#include "runyard/v1/spec.pb.h"

namespace runyard::cli {

// What the CLI's commands need from "where runs live": the embedded store for local runs,
// a runyard-server for pools. Commands are written once against this.
class RunBackend {
 public:
  virtual ~RunBackend() = default;

  // Uploads the snapshot archive (only if the store lacks it); returns bytes sent.
  virtual absl::StatusOr<int64_t> UploadSnapshot(const std::string& digest,
                                                 const std::string& archive_path) = 0;
  virtual absl::StatusOr<runyard::v1::Run> Submit(const runyard::v1::RunSpec& spec) = 0;
  virtual absl::StatusOr<runyard::v1::Run> Get(const std::string& run_id) = 0;
  virtual absl::StatusOr<std::vector<runyard::v1::Run>> List(const std::string& experiment, int limit) = 0;
  virtual absl::StatusOr<runyard::v1::Run> Cancel(const std::string& run_id) = 0;
  virtual absl::StatusOr<std::vector<runyard::v1::FileInfo>> ListFiles(const std::string& run_id) = 0;
  virtual absl::Status ReadFile(const std::string& run_id, const std::string& path, std::ostream& out) = 0;

  // Calls on_log with std_log.txt bytes from `log_offset` on and on_run on each status
  // change, until the run has ended and its whole log was passed on. Returns the run.
  virtual absl::StatusOr<runyard::v1::Run> Watch(
      const std::string& run_id, int64_t log_offset,
      const std::function<void(std::string_view)>& on_log,
      const std::function<void(const runyard::v1::Run&)>& on_run) = 0;
};

}  // namespace runyard::cli
