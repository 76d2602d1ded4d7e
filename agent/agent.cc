#include "agent/agent.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/capabilities.h"
#include "agent/network_address.h"
#include "agent/pid_file.h"
#include "common/logging.h"
#include "common/service_notify.h"
#include "common/snapshot_manifest.h"
#include "runtime/overlay.h"
#include "runtime/reporting_observer.h"
#include "runtime/runner.h"

namespace runyard::agent {
namespace {

auto Log() { return common::Logger("agent"); }

// The longest a poll may wait on the server; shorter when leases are short.
constexpr int kMaxPollWaitMs = 15000;
// After a poll that failed (not one we cut short), the next one waits this long.
constexpr std::chrono::milliseconds kPollRetryDelay{1000};

std::string HostName() {
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  return name;
}

}  // namespace

Agent::Agent(AgentConfig config, AgentDependencies dependencies)
    : config_(std::move(config)),
      dependencies_(std::move(dependencies)),
      link_(*dependencies_.link),
      clock_(*dependencies_.clock),
      cache_(config_.work_dir / "cas", config_.cache_max_bytes),
      environments_(config_.work_dir / "envs", config_.env_cache_max_bytes) {
  observability_ = std::make_unique<AgentObservability>(
      config_,
      AgentGauges{[this] { return LastServerContact(); }, [this] { return ActiveRuns(); },
                  [this] { return draining(); }, [this] { return link_.uploaded_bytes(); }},
      clock_);
}

Agent::~Agent() { JoinFinishedSlots(); }

void Agent::Shutdown() {
  std::lock_guard lock(mutex_);
  if (shutting_down_) return;
  shutting_down_ = true;
  Log()->info("shutting down: stopping {} run(s)", slots_.size());
  common::NotifyStopping("stopping " + std::to_string(slots_.size()) + " run(s)");
  for (auto& [run_id, slot] : slots_)
    slot->cancel.RequestCancel(runtime::CancelToken::Reason::kAgentShutdown);
  if (poll_in_flight_) poll_in_flight_->Cancel();
  wake_.notify_all();
}

void Agent::Drain() {
  std::lock_guard lock(mutex_);
  if (draining_ || shutting_down_) return;
  draining_ = true;
  drain_deadline_ = clock_.SteadyNow() + std::chrono::seconds(config_.drain_timeout_seconds);
  Log()->info(
      "draining: taking no new run; {} running run(s) may go on for up to {} s, then they are "
      "canceled",
      slots_.size(), config_.drain_timeout_seconds);
  common::NotifyStopping("draining: " + std::to_string(slots_.size()) + " run(s) active");
  // The poll in flight is cut short so the server hears of the drain now (and an idle
  // agent exits at once); a run handed to us in that instant is put back in the queue by
  // the server when it sees the poll was canceled.
  if (poll_in_flight_) poll_in_flight_->Cancel();
  wake_.notify_all();
}

int Agent::ActiveRuns() {
  std::lock_guard lock(mutex_);
  return static_cast<int>(slots_.size());
}

bool Agent::draining() {
  std::lock_guard lock(mutex_);
  return draining_;
}

bool Agent::stopping() {
  std::lock_guard lock(mutex_);
  return shutting_down_ || draining_;
}

void Agent::ServerAnswered() { last_contact_ = clock_.SteadyNow(); }

void Agent::ReportStatusToSystemdLocked() {
  const size_t busy = std::count_if(slots_.begin(), slots_.end(),
                                    [](const auto& slot) { return !slot.second->done; });
  common::NotifyStatus(absl::StrCat(draining_ ? "draining: " : "", busy, " of ", config_.slots,
                                    " slot(s) busy; pool '", config_.pool, "'"));
}

void Agent::FeedWatchdogWhileServerAnswers() {
  const auto interval = common::WatchdogInterval();
  if (interval.count() == 0) return;
  Log()->info("systemd watchdog every {} s: fed while the server answers",
              std::chrono::duration_cast<std::chrono::seconds>(interval).count());
  watchdog_ = std::thread([this, interval] {
    std::unique_lock lock(mutex_);
    while (!shutting_down_) {
      if (clock_.SteadyNow() - last_contact_.load() < interval) common::NotifyWatchdog();
      wake_.wait_for(lock, interval / 4);
    }
  });
}

void Agent::PauseBeforeRetry(std::chrono::milliseconds delay) {
  if (dependencies_.pause_before_retry) {
    dependencies_.pause_before_retry(delay);
    return;
  }
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, delay, [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return shutting_down_; });
}

runyard::v1::RegisterRequest Agent::RegistrationRequest(
    const runyard::v1::Capabilities& capabilities) const {
  runyard::v1::RegisterRequest request;
  request.set_name(config_.name.empty() ? HostName() : config_.name);
  request.set_pool(config_.pool);
  request.set_slots(config_.slots);
  request.set_hostname(HostName());
  request.set_version("0.1.0");
  *request.mutable_capabilities() = capabilities;
  std::string problem;
  request.set_address(AdvertisedAddress(config_, &problem));
  if (!problem.empty()) Log()->warn("{}", problem);
  return request;
}

void Agent::AdoptAgentToken(const std::string& agent_token) {
  AgentCredential* credential = dependencies_.credential;
  if (credential == nullptr || agent_token.empty() || agent_token == credential->source()->Get()) return;
  const bool first = !credential->presents_agent_token();
  if (absl::Status kept = credential->Adopt(agent_token); !kept.ok()) {
    Log()->error("cannot keep the agent token the server issued ({}): it is used until this agent stops, and the "
                 "next start needs the join token again",
                 std::string(kept.message()));
    return;
  }
  if (first) Log()->info("enrolled: from now on this agent presents {}", credential->Describe());
}

bool Agent::RefusedCredential(const absl::Status& status, const char* call) {
  if (!absl::IsUnauthenticated(status) && !absl::IsPermissionDenied(status)) return false;
  const std::string presented =
      dependencies_.credential != nullptr ? dependencies_.credential->Describe() : std::string("its credential");
  const std::string remedy = dependencies_.credential != nullptr ? dependencies_.credential->RemedyWhenRefused() : "";
  Log()->critical("server {} refused {} ({}): {}; stopping. {}", config_.server, call, presented,
                  std::string(status.message()), remedy);
  refused_ = true;
  Shutdown();  // runs stop now: the server ends their leases itself
  return true;
}

bool Agent::Register() {
  RegisterBackoff backoff;
  // Measured once, not on every retry: nvidia-smi alone may take seconds.
  const runyard::v1::Capabilities capabilities =
      ProbeCapabilities(config_.labels, *dependencies_.commands);
  const runyard::v1::RegisterRequest request = RegistrationRequest(capabilities);
  while (!stopping()) {
    absl::StatusOr<runyard::v1::RegisterResponse> response = link_.Register(request);
    if (response.ok()) {
      ServerAnswered();
      AdoptAgentToken(response->agent_token());
      agent_id_ = response->agent_id();
      // Poll (= heartbeat) well within the lease, so a healthy agent never looks lost.
      poll_wait_ms_ = std::clamp(response->lease_seconds() * 1000 / 3, 200, kMaxPollWaitMs);
      Log()->info(
          "registered with {} as {} (pool '{}', {} slot(s); {} CPU(s), {} memory, {} GPU(s))",
          config_.server, agent_id_, config_.pool, config_.slots, capabilities.cpus(),
          common::HumanBytes(capabilities.memory_bytes()), capabilities.gpus_size());
      return true;
    }
    if (absl::IsInvalidArgument(response.status())) {
      Log()->critical("server refused registration: {}", std::string(response.status().message()));
      return false;
    }
    if (RefusedCredential(response.status(), "registration")) return false;
    Log()->warn("cannot reach {} ({}); retrying", config_.server,
                std::string(response.status().message()));
    PauseBeforeRetry(backoff.Next());
  }
  return false;
}

void Agent::JoinFinishedSlots() {
  std::vector<std::unique_ptr<Slot>> finished;
  {
    std::lock_guard lock(mutex_);
    for (auto it = slots_.begin(); it != slots_.end();) {
      if (it->second->done) {
        finished.push_back(std::move(it->second));
        it = slots_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& slot : finished) slot->thread.join();
}

std::optional<runyard::v1::PollRequest> Agent::NextPollLocked() {
  if (shutting_down_) return std::nullopt;
  int wait_ms = poll_wait_ms_;
  if (draining_) {
    if (slots_.empty()) return std::nullopt;  // drained
    const auto left = drain_deadline_ - clock_.SteadyNow();
    if (left <= std::chrono::milliseconds(0)) {
      Log()->warn("drain timeout ({} s) reached: canceling {} run(s)",
                  config_.drain_timeout_seconds, slots_.size());
      for (auto& [run_id, slot] : slots_)
        slot->cancel.RequestCancel(runtime::CancelToken::Reason::kAgentShutdown);
      shutting_down_ = true;
      return std::nullopt;
    }
    wait_ms = static_cast<int>(std::min<int64_t>(
        wait_ms, std::chrono::duration_cast<std::chrono::milliseconds>(left).count() + 1));
  }
  runyard::v1::PollRequest request;
  request.set_agent_id(agent_id_);
  request.set_draining(draining_);
  request.set_free_slots(draining_ ? 0 : config_.slots - static_cast<int>(slots_.size()));
  request.set_wait_ms(wait_ms);
  for (const auto& [run_id, slot] : slots_) *request.add_held() = slot->lease;
  return request;
}

bool Agent::PollOnce() {
  JoinFinishedSlots();
  std::unique_ptr<PendingPoll> poll;
  {
    std::lock_guard lock(mutex_);
    std::optional<runyard::v1::PollRequest> request = NextPollLocked();
    if (!request) return false;
    poll = link_.StartPoll(*request);
    poll_in_flight_ = poll.get();
    // With no free slot the server cannot hand us a run, so cutting this poll short when
    // a slot frees up loses nothing.
    poll_can_be_interrupted_ = request->free_slots() == 0;
  }
  absl::StatusOr<runyard::v1::PollResponse> response = poll->Wait();
  {
    std::lock_guard lock(mutex_);
    poll_in_flight_ = nullptr;
  }
  if (!response.ok()) {
    if (absl::IsCancelled(response.status())) return true;  // we cut it short
    if (absl::IsNotFound(response.status())) {
      Log()->warn("server does not know this agent ({}); registering again",
                  std::string(response.status().message()));
      return Register();
    }
    if (RefusedCredential(response.status(), "the poll")) return false;
    Log()->warn("poll failed: {}; retrying", std::string(response.status().message()));
    PauseBeforeRetry(kPollRetryDelay);
    return true;
  }
  ServerAnswered();
  std::lock_guard lock(mutex_);
  ApplyPollResponseLocked(*response);
  return true;
}

void Agent::ApplyPollResponseLocked(const runyard::v1::PollResponse& response) {
  for (const auto& run_id : response.cancel_run_ids()) {
    if (auto it = slots_.find(run_id); it != slots_.end()) {
      Log()->info("run {}: cancel requested", run_id);
      it->second->cancel.RequestCancel(runtime::CancelToken::Reason::kUserCancel);
    }
  }
  for (const auto& run_id : response.lost_run_ids()) {
    if (auto it = slots_.find(run_id); it != slots_.end()) {
      Log()->warn("run {}: lease lost; stopping it", run_id);
      it->second->cancel.RequestCancel(runtime::CancelToken::Reason::kLeaseLost);
    }
  }
  for (const auto& assignment : response.assignments()) StartRunLocked(assignment);
  ReportStatusToSystemdLocked();
}

void Agent::StartRunLocked(const runyard::v1::Assignment& assignment) {
  const std::string& run_id = assignment.lease().run_id();
  if (slots_.contains(run_id)) return;
  auto slot = std::make_unique<Slot>();
  slot->lease = assignment.lease();
  if (assignment.has_gang()) slot->gang = assignment.gang();
  Slot* raw = slot.get();
  slots_[run_id] = std::move(slot);
  Log()->info("run {}: starting ({} of {} slots busy)", run_id, slots_.size(), config_.slots);
  observability_->RunStarted();
  raw->thread = std::thread([this, raw, spec = assignment.spec()] { RunInSlot(raw, spec); });
}

void Agent::RunInSlot(Slot* slot, runyard::v1::RunSpec spec) {
  {
    runtime::ReportingObserver observer(&link_.reporter(), slot->lease, &slot->cancel,
                                        config_.work_dir / "spool" / slot->lease.run_id());
    runtime::RunnerOptions options;
    options.work_dir = config_.work_dir;
    options.kill_grace = std::chrono::seconds(config_.kill_grace_seconds);
    options.cache = &cache_;
    options.environments = &environments_;
    options.environment_settings = EnvironmentSettingsOf(config_);
    options.environment_settings.commands = dependencies_.commands;
    options.containment = containment_.get();
    options.pids_limit = config_.pids_limit;
    options.journal = journal_.get();
    options.max_log_bytes = config_.max_log_bytes;
    options.sdk_python_dir = SdkPythonDirOf(config_);
    options.run_api_limits.max_metric_values_per_run = config_.max_metric_values_per_run;
    options.run_api_limits.max_children_per_run = config_.max_children_per_run;
    options.run_api_limits.max_tags_per_run = config_.max_tags_per_run;
    options.run_api_limits.max_records_bytes = config_.max_run_api_bytes;
    options.network_interface = config_.network_interface;
    options.run_as = run_as_;
    options.clean_environment = config_.clean_environment;
    options.private_tmp = config_.private_tmp;
    options.max_open_files = config_.max_open_files;
    options.bubblewrap = sandbox_;
    options.materialization =
        config_.snapshot_materialization == "copy"      ? runtime::Materialization::kCopy
        : config_.snapshot_materialization == "overlay" ? runtime::Materialization::kOverlay
                                                        : runtime::Materialization::kAuto;
    runtime::Runner runner(options, &link_.blobs(), &observer);
    // A gang node takes its slot like any run; the runner starts its share of the ranks.
    runtime::RunOutcome outcome = runner.Run(slot->lease.run_id(), spec, slot->cancel,
                                             slot->gang ? &*slot->gang : nullptr);
    Log()->info("run {}: ended {}", slot->lease.run_id(),
                outcome.error.code().empty() ? "Completed" : outcome.error.code());
    observability_->RunFinished(outcome);
  }
  link_.RunEnded(slot->lease.run_id());
  std::lock_guard lock(mutex_);
  slot->done = true;
  ReportStatusToSystemdLocked();
  if (poll_in_flight_ && poll_can_be_interrupted_) poll_in_flight_->Cancel();
  wake_.notify_all();
}

// How runs are held and walled in on this node: containment mode, user, /tmp, sandbox.
// False (after a critical log line) when the configuration asks for what the node cannot give.
bool Agent::SetUpRunIsolation() {
  using Preference = sandbox::ContainmentFactory::Preference;
  const Preference preference = config_.cgroup_mode == "v2"     ? Preference::kCgroupV2
                                : config_.cgroup_mode == "v1"   ? Preference::kCgroupV1
                                : config_.cgroup_mode == "none" ? Preference::kProcessGroup
                                                                : Preference::kAuto;
  absl::StatusOr<std::unique_ptr<sandbox::ContainmentFactory>> containment =
      sandbox::ContainmentFactory::Create(preference);
  if (!containment.ok()) {
    Log()->critical("cgroup_mode {}: {}", config_.cgroup_mode,
                    std::string(containment.status().message()));
    return false;
  }
  containment_ = std::move(*containment);
  // Runs of an agent that was killed (SIGKILL, OOM) on this work dir may still be running.
  journal_ = std::make_unique<sandbox::RunJournal>(config_.work_dir / "state" / "runs");
  if (const auto leftovers = journal_->CleanUpLeftovers(); !leftovers.empty()) {
    Log()->warn("cleaned up after {} run(s) left by an agent that did not stop cleanly",
                leftovers.size());
  }
  if (!config_.run_as_user.empty()) {
    absl::StatusOr<sandbox::RunAs> user = sandbox::LookUpUser(config_.run_as_user);
    if (!user.ok()) {
      Log()->critical("{}", std::string(user.status().message()));
      return false;
    }
    run_as_ = *user;
    Log()->info("runs execute as {} (uid {})", user->name, user->uid);
  } else if (::geteuid() == 0) {
    Log()->warn(
        "runs execute as root: set run_as_user in the agent config to run them unprivileged");
  }
  if (config_.private_tmp && ::geteuid() != 0) {
    Log()->info("private /tmp per run needs root: runs share /tmp");
    config_.private_tmp = false;
  }
  if (config_.private_tmp && config_.work_dir.string().rfind("/tmp/", 0) == 0) {
    // A fresh /tmp would hide the run's own folder.
    Log()->info(
        "work dir is under /tmp: runs share /tmp (move work_dir out of /tmp for a private /tmp per "
        "run)");
    config_.private_tmp = false;
  }
  // Orphans of runs (double-forked daemons) come to the agent, not init, and are reaped here.
  if (sandbox::BecomeChildSubreaper()) {
    orphan_reaper_ = std::make_unique<sandbox::OrphanReaper>();
  } else {
    Log()->warn("cannot become the child subreaper of runs ({}): their orphans go to init",
                strerror(errno));
  }
  if (config_.sandbox == "bubblewrap") {
    absl::StatusOr<std::filesystem::path> bwrap = sandbox::CheckBubblewrap(config_.bwrap_path);
    if (!bwrap.ok()) {
      Log()->critical("{}", std::string(bwrap.status().message()));
      return false;
    }
    sandbox::BubblewrapPolicy policy;
    policy.bwrap = *bwrap;
    policy.network = config_.sandbox_network;
    policy.hidden.push_back(config_.work_dir);
    for (const std::string& path : config_.sandbox_hide_paths) {
      std::error_code ec;
      if (std::filesystem::is_directory(path, ec)) policy.hidden.push_back(path);
    }
    Log()->info("runs are sandboxed by {}: system read-only, agent files hidden, {}",
                policy.bwrap.string(), policy.network ? "network shared" : "no network");
    sandbox_ = std::move(policy);
  }
  return true;
}

void Agent::WaitForRunsToEnd() {
  while (true) {
    JoinFinishedSlots();
    std::unique_lock lock(mutex_);
    if (slots_.empty()) return;
    // A slot that ended since JoinFinishedSlots let go of the lock has notified already:
    // its `done` flag, not the notification, is what ends the wait.
    wake_.wait(lock, [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return std::any_of(slots_.begin(), slots_.end(),
                         [](const auto& slot) { return slot.second->done; });
    });
  }
}

int Agent::Run() {
  absl::StatusOr<std::unique_ptr<AgentPidFile>> claim = AgentPidFile::Claim(config_.work_dir);
  if (!claim.ok()) {
    Log()->critical("{}", std::string(claim.status().message()));
    return 1;
  }
  pid_file_ = std::move(claim).value();
  if (absl::Status listening = observability_->Start(); !listening.ok()) {
    Log()->critical("http_listen: {}", std::string(listening.message()));
    return 1;
  }
  if (!SetUpRunIsolation()) return 1;
  if (const std::filesystem::path sdk = SdkPythonDirOf(config_); !sdk.empty()) {
    Log()->info("in-run API: runs get the Python SDK {} on their PYTHONPATH", sdk.string());
  } else if (config_.sdk_python_dir != "none") {
    Log()->warn("in-run API: no Python SDK found next to the agent's binary (sdk_python_dir): "
                "scripts cannot import runyard or azureml.core");
  }
  // Before the unmount below: a run left running may still have its overlay mounted.
  salvage_ = std::make_unique<runtime::UploadSalvage>(&link_.reporter(), config_.work_dir / "spool",
                                                      config_.work_dir / "runs");
  if (const int left = salvage_->Start(); left > 0) {
    Log()->warn("finishing the upload of {} run(s) left by an agent that did not stop cleanly",
                left);
  }
  if (const int stale = runtime::UnmountAllBelow(config_.work_dir / "runs"); stale > 0) {
    Log()->warn("unmounted {} mount(s) left under {} by an agent that did not stop cleanly", stale,
                (config_.work_dir / "runs").string());
  }
  if (!Register()) return stopping() && !refused_ ? 0 : 1;
  common::NotifyReady(absl::StrCat("registered with ", config_.server, " as ", agent_id_,
                                   "; pool '", config_.pool, "', ", config_.slots, " slot(s)"));
  FeedWatchdogWhileServerAnswers();
  while (PollOnce()) {
  }
  WaitForRunsToEnd();
  {
    std::lock_guard lock(mutex_);
    shutting_down_ = true;  // ends the watchdog thread
    wake_.notify_all();
  }
  if (watchdog_.joinable()) watchdog_.join();
  Log()->info("stopped");
  return refused_ ? 1 : 0;
}

}  // namespace runyard::agent
