#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include <vector>

#include "absl/status/statusor.h"
#include "common/cas_directory.h"
#include "runyard/v1/run.pb.h"

namespace runyard::runtime {

// How a run ended, as reported to the user.
struct RunOutcome {
  runyard::v1::RunStatus status = runyard::v1::FAILED;
  bool has_exit_code = false;
  int exit_code = 0;
  runyard::v1::RunError error;  // empty code when Completed
  runyard::v1::RunUsage usage;
  // A managed environment (venv, conda) found in the node's cache, or built for this run;
  // neither for a user-managed interpreter (or a run that ended before).
  enum class EnvironmentSource { kNone, kCacheHit, kBuilt } environment = EnvironmentSource::kNone;
  // A node of a distributed run: how each of its ranks ended (by rank).
  std::vector<runyard::v1::RankResult> ranks;
};

// Where a run reports what happens to it. The agent implements it over gRPC, local mode
// over the embedded store; runtime/ never knows which.
class RunObserver {
 public:
  virtual ~RunObserver() = default;

  // Told first, before any file: the values of the run's secret variables
  // (common::SecretValues of its spec). An observer that keeps run files must keep them
  // out of the logs (runtime/log_redaction.h); by default nothing keeps files.
  virtual void OnSecrets(const std::vector<std::string>& secrets) {}

  // Every non-terminal status the run passes through, in order.
  virtual void OnStatus(runyard::v1::RunStatus status) = 0;

  // `data` belongs at `offset` of run file `path` (user_logs/..., system_logs/...,
  // outputs/..., logs/...). With `truncate` the file starts over at offset 0.
  virtual void OnFileBytes(const std::string& path, int64_t offset, std::string_view data,
                           bool truncate) = 0;

  // Bytes [offset, offset + length) of run file `path` are at the same offsets of the
  // local file `source`, which keeps them (the run's std_log.txt). By default they are
  // read now and handed to OnFileBytes; an observer that sends later may read them then.
  // False when the observer could not take them (its spool could not be written): the
  // caller still owns them and may offer them again later.
  virtual bool OnFileRange(const std::string& path, const std::filesystem::path& source, int64_t offset,
                           int64_t length);

  // Calls `acknowledged` (on some thread of the observer's) once everything reported so
  // far has been acknowledged by the control plane. The in-run API's flush() waits on
  // this. By default at once: an observer that reports synchronously.
  virtual void WhenAcknowledged(std::function<void()> acknowledged) { acknowledged(); }

  // Called once, after every byte was reported: the run's terminal status.
  virtual void OnFinished(const RunOutcome& outcome) = 0;
};

struct FetchStats {
  int64_t blobs = 0;
  int64_t bytes = 0;
};

// Where blobs come from when the node cache lacks them: the server (agent) or the local
// blob store (local mode).
class BlobSource {
 public:
  virtual ~BlobSource() = default;
  // Brings every blob of `digests` that `cache` lacks into it, each verified by digest.
  virtual absl::StatusOr<FetchStats> FetchMissing(const std::vector<std::string>& digests,
                                                  common::CasDirectory& cache) = 0;
};

}  // namespace runyard::runtime
