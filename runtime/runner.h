#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "runtime/cancel_token.h"
#include "runtime/env_builder.h"
#include "runtime/observer.h"
#include "runtime/run_api_channel.h"
#include "runtime/snapshot_stage.h"
#include "runyard/v1/services.pb.h"
#include "runyard/v1/spec.pb.h"
#include "sandbox/bubblewrap.h"
#include "sandbox/containment.h"
#include "sandbox/run_as.h"
#include "sandbox/run_journal.h"

namespace runyard::runtime {

struct RunnerOptions {
  std::filesystem::path work_dir;
  // The node's blob cache, shared by all runs of this process.
  BlobCache* cache = nullptr;
  Materialization materialization = Materialization::kAuto;
  // The node's built environments (pip, conda) and how to build them.
  EnvironmentCache* environments = nullptr;
  EnvironmentSettings environment_settings;
  // Holds each run's processes (cgroup v2 / v1, or process group + tag sweep); without
  // one, the process group alone.
  sandbox::ContainmentFactory* containment = nullptr;
  // Where each run's containment is written down while it runs, so an agent killed with
  // SIGKILL cleans up after it at its next start (none: not written down).
  sandbox::RunJournal* journal = nullptr;
  // Most processes a run may have at once (agent config; 0: no limit).
  int64_t pids_limit = 0;
  // The agent's hardening: runs as this user (their working directory is given to it;
  // snapshots are then copied, not overlaid), with a clean environment instead of the
  // agent's, a private /tmp, and a bound on open files.
  std::optional<sandbox::RunAs> run_as;
  bool clean_environment = false;
  bool private_tmp = false;
  int64_t max_open_files = 0;
  // Set: each run inside a bubblewrap sandbox of this policy (the agent's files hidden);
  // the runner adds the run's own folders (writable) and its environment (read-only).
  // Unset: on the host (sandbox/sandbox_factory.h chooses).
  std::optional<sandbox::BubblewrapPolicy> bubblewrap;
  std::chrono::milliseconds kill_grace{std::chrono::seconds(30)};
  // user_logs/std_log.txt is cut past this many bytes (0: no limit).
  int64_t max_log_bytes = 0;
  // How often outputs/ and logs/ are mirrored while the script runs.
  std::chrono::milliseconds sync_interval{std::chrono::seconds(2)};
  // The in-run API (run_api_channel.h): the folder holding the Python SDK (runyard/ and
  // azureml/), put on the script's PYTHONPATH unless the spec opts out (empty: no SDK),
  // and the ceilings the SDK enforces in the script.
  std::filesystem::path sdk_python_dir;
  RunApiLimits run_api_limits;
  // Distributed runs (issue 16): runyard-ranks, which starts a node's ranks (empty: found
  // next to this process's binary, runtime/ranks_binary.h), and the network interface the
  // ranks' gloo / NCCL use (GLOO_SOCKET_IFNAME, NCCL_SOCKET_IFNAME; empty: not set, "lo"
  // on the local target).
  std::filesystem::path ranks_binary;
  std::string network_interface;
};

// Executes ONE run on this machine, start to end, as a list of stages (run_stages.h):
// workspace, snapshot, environment, command line, containment, sandbox, limits, process
// under its deadline with live logs and files, finalize, outcome. Everything it learns
// goes to the observer; it knows nothing of where that ends up.
class Runner {
 public:
  Runner(RunnerOptions options, BlobSource* blobs, RunObserver* observer)
      : options_(std::move(options)), blobs_(blobs), observer_(observer) {}

  // `placement`: this node's place in a distributed run's gang (Assignment.gang). nullptr
  // with a distributed spec: the local target, every node on this machine.
  RunOutcome Run(const std::string& run_id, const runyard::v1::RunSpec& spec, CancelToken& cancel,
                 const runyard::v1::GangPlacement* placement = nullptr);

 private:
  RunnerOptions options_;
  BlobSource* blobs_;
  RunObserver* observer_;
};

}  // namespace runyard::runtime
