// The shared fixture of server/control_plane.h's tests (tests/unit/control_plane_*_test.cc):
// a store, blob store and run files in a temporary folder, a one-file snapshot uploaded, and
// helpers to submit, register, poll and report.
//
// Waiting is event-driven: a Poll tells the test it is waiting through its client_gone
// callback (first asked once the poll is registered, with the plane's lock held). Time is
// a FakeClock: leases expire when a test moves it (Advance) and runs a reaper pass
// (ReapExpiredLeasesNow), never by waiting.
#pragma once

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/digest.h"
#include "common/snapshot_manifest.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/control_plane.h"
#include "tests/fakes/fake_clock.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::server::test_support {

using ::runyard::testutil::ScopedTempDir;
using runyard::v1::RunStatus;

inline std::vector<RunStatus> History(const runyard::v1::Run& run) {
  std::vector<RunStatus> statuses;
  for (const auto& event : run.history()) statuses.push_back(event.status());
  return statuses;
}

// A Poll running on its own thread. Started() resolves once the poll is registered as a
// waiter, so whatever the test does next is seen by a poll that is already waiting.
class BackgroundPoll {
 public:
  BackgroundPoll(ControlPlane* plane, runyard::v1::PollRequest request)
      : started_future_(started_.get_future()) {
    thread_ = std::thread([this, plane, request] {
      response_ = plane->Poll(request, [this] {
        if (!announced_) {
          announced_ = true;
          started_.set_value();
        }
        return false;
      });
      if (!announced_) started_.set_value();  // the poll failed before it waited
    });
  }
  ~BackgroundPoll() {
    if (thread_.joinable()) thread_.join();
  }

  void WaitUntilWaiting() { started_future_.wait(); }

  absl::StatusOr<runyard::v1::PollResponse> Join() {
    thread_.join();
    return response_;
  }

 private:
  std::promise<void> started_;
  std::future<void> started_future_;
  bool announced_ = false;  // only touched by the poll's thread
  absl::StatusOr<runyard::v1::PollResponse> response_;
  std::thread thread_;
};

class ControlPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Store>> store =
        Store::Open((tmp_.path() / "runyard.db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    blobs_ = std::make_unique<BlobStore>(tmp_.path() / "blobs");
    files_ = std::make_unique<RunFiles>(tmp_.path() / "files", store_.get(), &clock_);

    snapshot_id_ = UploadSnapshot({{"train.py", "print('training')\n"}});
    ASSERT_FALSE(snapshot_id_.empty());
  }

  // The whole token of a new token made by `by` (an admin's trusted plane by default), as
  // `runyard tokens create` would make it.
  std::string NewToken(runyard::v1::TokenKind kind, runyard::v1::Role role, const std::string& name,
                       const std::string& pool = "", int64_t ttl_seconds = 0,
                       const Identity& by = Identity::Local()) {
    runyard::v1::CreateTokenRequest request;
    request.set_kind(kind);
    request.set_role(role);
    request.set_name(name);
    request.set_pool(pool);
    request.set_ttl_seconds(ttl_seconds);
    absl::StatusOr<runyard::v1::CreateTokenResponse> created = Plane().CreateToken(by, request);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? created->token() : "";
  }

  // A manifest with one file entry per (path, content), sorted by path as a manifest must be.
  static runyard::v1::SnapshotManifest ManifestOf(
      std::vector<std::pair<std::string, std::string>> files) {
    std::sort(files.begin(), files.end());
    runyard::v1::SnapshotManifest manifest;
    for (const auto& [path, content] : files) {
      auto* entry = manifest.add_entries();
      entry->set_path(path);
      entry->set_mode(0644);
      entry->set_size(static_cast<int64_t>(content.size()));
      entry->set_digest(common::Sha256Hex(content));
    }
    return manifest;
  }

  // Puts the manifest bytes into the blob store, and the content of every file unless its
  // path is in `not_uploaded`; returns the snapshot id ("" on failure).
  std::string UploadSnapshot(const std::vector<std::pair<std::string, std::string>>& files,
                             const std::vector<std::string>& not_uploaded = {}) {
    for (const auto& [path, content] : files) {
      if (std::find(not_uploaded.begin(), not_uploaded.end(), path) != not_uploaded.end()) continue;
      absl::StatusOr<std::string> digest = blobs_->Put(content);
      EXPECT_TRUE(digest.ok()) << digest.status();
    }
    const std::string bytes = common::SerializeManifest(ManifestOf(files));
    absl::StatusOr<std::string> id = blobs_->Put(bytes);
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) return "";
    EXPECT_EQ(*id, common::ManifestId(ManifestOf(files)));
    return *id;
  }

  // Made by each test (or lazily with defaults) so a test can pick its own durations.
  ControlPlane& Plane(ControlPlaneOptions options = DefaultOptions()) {
    if (!plane_) {
      options.clock = &clock_;
      Store* store = plane_store_ != nullptr ? plane_store_ : store_.get();
      plane_ = std::make_unique<ControlPlane>(store, blobs_.get(), files_.get(), options);
    }
    return *plane_;
  }

  static ControlPlaneOptions DefaultOptions() {
    ControlPlaneOptions options;
    options.lease_duration = std::chrono::seconds(30);
    options.agent_lost_after = std::chrono::seconds(60);
    options.max_poll_wait = std::chrono::seconds(5);
    return options;
  }

  runyard::v1::RunSpec Spec() const {
    runyard::v1::RunSpec spec;
    spec.set_experiment("exp");
    spec.set_script("train.py");
    spec.set_compute_target("cpu");
    spec.set_snapshot_id(snapshot_id_);
    return spec;
  }

  std::string SubmitRun() {
    absl::StatusOr<runyard::v1::Run> run = Plane().Submit(Spec());
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? run->run_id() : "";
  }

  std::string RegisterAgent(const std::string& pool = "cpu") {
    runyard::v1::RegisterRequest request;
    request.set_name("agent");
    request.set_pool(pool);
    request.set_slots(1);
    absl::StatusOr<runyard::v1::RegisterResponse> response = Plane().Register(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->agent_id() : "";
  }

  static runyard::v1::PollRequest PollRequest(const std::string& agent_id, int free_slots,
                                              int wait_ms,
                                              const std::vector<runyard::v1::Lease>& held = {}) {
    runyard::v1::PollRequest request;
    request.set_agent_id(agent_id);
    request.set_free_slots(free_slots);
    request.set_wait_ms(wait_ms);
    for (const auto& lease : held) *request.add_held() = lease;
    return request;
  }

  absl::StatusOr<runyard::v1::PollResponse> Poll(const std::string& agent_id, int free_slots,
                                                 int wait_ms,
                                                 const std::vector<runyard::v1::Lease>& held = {}) {
    return Plane().Poll(PollRequest(agent_id, free_slots, wait_ms, held), [] { return false; });
  }

  // Registers an agent, submits a run and hands it to the agent: the agent's lease.
  runyard::v1::Lease AssignedRun(std::string* agent_id = nullptr) {
    const std::string agent = RegisterAgent();
    if (agent_id) *agent_id = agent;
    const std::string run_id = SubmitRun();
    absl::StatusOr<runyard::v1::PollResponse> response = Poll(agent, 1, 1000);
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok() || response->assignments_size() != 1) {
      ADD_FAILURE() << "run " << run_id << " was not assigned";
      return {};
    }
    return response->assignments(0).lease();
  }

  absl::StatusOr<runyard::v1::UpdateStatusResponse> Report(const runyard::v1::Lease& lease,
                                                           RunStatus status) {
    runyard::v1::UpdateStatusRequest request;
    *request.mutable_lease() = lease;
    request.set_status(status);
    return Plane().UpdateStatus(request);
  }

  // A leased run the agent reported Running.
  runyard::v1::Lease RunningRun(std::string* agent_id = nullptr) {
    runyard::v1::Lease lease = AssignedRun(agent_id);
    EXPECT_TRUE(Report(lease, runyard::v1::RUNNING).ok());
    return lease;
  }

  RunStatus StatusOf(const std::string& run_id) {
    absl::StatusOr<runyard::v1::Run> run = Plane().Get(run_id);
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? run->status() : runyard::v1::RUN_STATUS_UNSPECIFIED;
  }

  ScopedTempDir tmp_;
  ::runyard::fakes::FakeClock clock_;  // the plane's and the run files' time
  std::unique_ptr<Store> store_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<RunFiles> files_;
  // Set before the first Plane() to give the plane another store (a wrapper of store_).
  Store* plane_store_ = nullptr;
  std::unique_ptr<ControlPlane> plane_;  // destroyed first: it refers to the three above
  std::string snapshot_id_;              // a one-file snapshot, manifest and blob uploaded
};

}  // namespace runyard::server::test_support
