#include "cli/local_executor.h"

#include <unistd.h>

#include <condition_variable>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/distributed_config.h"
#include "common/sdk_location.h"
#include "common/status_names.h"
#include "runtime/blob_cache.h"
#include "runtime/reporting_observer.h"
#include "runtime/runner.h"

namespace runyard::cli {
namespace fs = std::filesystem;
namespace {

// RunReporter as a plain call into the embedded control plane.
class InProcessReporter : public runtime::RunReporter {
 public:
  explicit InProcessReporter(server::ControlPlane* plane) : plane_(plane) {}
  absl::StatusOr<runyard::v1::UpdateStatusResponse> UpdateStatus(
      const runyard::v1::UpdateStatusRequest& request) override {
    return plane_->UpdateStatus(request);
  }
  absl::StatusOr<runyard::v1::AppendResponse> Append(const runyard::v1::AppendRequest& request) override {
    return plane_->Append(request);
  }

 private:
  server::ControlPlane* plane_;
};

// Local mode's node cache is the local blob store itself: submit put every blob there.
class LocalBlobSource : public runtime::BlobSource {
 public:
  absl::StatusOr<runtime::FetchStats> FetchMissing(const std::vector<std::string>& digests,
                                                   common::CasDirectory& cache) override {
    for (const auto& digest : digests) {
      if (!cache.Has(digest)) return absl::NotFoundError("blob " + digest + " is not in the local store");
    }
    return runtime::FetchStats{};
  }
};

// Watches the store for a cancel asked from another process (runyard cancel).
class CancelWatcher {
 public:
  CancelWatcher(LocalBackend& backend, std::string run_id, runtime::CancelToken& cancel)
      : thread_([this, &backend, run_id, &cancel] {
          std::unique_lock lock(mutex_);
          while (!stop_) {
            lock.unlock();
            absl::StatusOr<runyard::v1::Run> run = backend.Get(run_id);
            if (run.ok() && run->status() == runyard::v1::CANCEL_REQUESTED) cancel.RequestCancel();
            lock.lock();
            wake_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stop_; });
          }
        }) {}
  ~CancelWatcher() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

constexpr int64_t kLocalEnvironmentQuota = 20LL << 30;

}  // namespace

absl::StatusOr<runyard::v1::Run> ExecuteLocalRun(LocalBackend& backend, const std::string& run_id,
                                                 runtime::CancelToken& cancel,
                                                 const LocalExecutionOptions& options) {
  absl::StatusOr<runyard::v1::Run> run = backend.Get(run_id);
  if (!run.ok()) return run.status();
  if (run->status() != runyard::v1::QUEUED) {
    return absl::FailedPreconditionError(absl::StrCat("run ", run_id, " is ",
                                                      common::StatusName(run->status()), ", not Queued"));
  }
  absl::StatusOr<runyard::v1::Lease> lease =
      backend.plane()->LeaseToSelf(run_id, absl::StrCat("local:", ::getpid()));
  if (!lease.ok()) return lease.status();
  // The spec with its secret values, which the stored run (`run`) shows masked.
  absl::StatusOr<runyard::v1::RunSpec> spec = backend.plane()->HeldRunSpec(*lease);
  if (!spec.ok()) return spec.status();

  InProcessReporter reporter(backend.plane());
  LocalBlobSource blobs;
  absl::StatusOr<std::unique_ptr<sandbox::ContainmentFactory>> containment =
      sandbox::ContainmentFactory::Create(sandbox::ContainmentFactory::Preference::kAuto);
  runtime::BlobCache cache(backend.blobs()->root(), /*quota_bytes=*/0);
  // Local runs use pip's own configuration (pip.conf, PIP_* variables) for indexes.
  runtime::EnvironmentCache environments(backend.work_dir() / "envs", kLocalEnvironmentQuota);
  {
    runtime::ReportingObserver observer(&reporter, *lease, &cancel);
    observer.on_std_log = options.on_output;
    // A distributed run runs every rank here (the runner without a placement); the terminal
    // shows rank 0's output beside the supervisor's lines, as `runyard logs` would.
    if (common::LaunchesPerProcess(run->spec())) {
      observer.std_log_paths.insert(common::RankLogPath(0));
    }
    runtime::RunnerOptions runner_options;
    runner_options.work_dir = backend.work_dir();
    runner_options.kill_grace = options.kill_grace;
    runner_options.cache = &cache;
    runner_options.environments = &environments;
    runner_options.containment = containment.ok() ? containment->get() : nullptr;
    // The SDK next to the CLI's binary (installed or build tree), as the agent finds it.
    runner_options.sdk_python_dir = common::FindSdkPythonDirOfThisProcess();
    runtime::Runner runner(runner_options, &blobs, &observer);
    CancelWatcher watcher(backend, run_id, cancel);
    runner.Run(run_id, *spec, cancel, /*placement=*/nullptr);
  }
  return backend.Get(run_id);
}

}  // namespace runyard::cli
