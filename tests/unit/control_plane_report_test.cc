// Tests for ControlPlane::Report (server/control_plane.h): a run's appends and statuses in
// one call are applied in order, each exactly as its own Append / UpdateStatus would be,
// and the first refusal stops the rest and says which item and why.

#include <memory>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/snapshot_manifest.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/control_plane.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::server {
namespace {

using ::testing::HasSubstr;

class ControlPlaneReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open((tmp_.path() / "runyard.db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    blobs_ = std::make_unique<BlobStore>(tmp_.path() / "blobs");
    files_ = std::make_unique<RunFiles>(tmp_.path() / "files", store_.get());
    ControlPlaneOptions options;
    options.lease_duration = std::chrono::seconds(30);
    plane_ = std::make_unique<ControlPlane>(store_.get(), blobs_.get(), files_.get(), options);
    lease_ = SubmitAndTake();
  }

  // A run submitted to pool "cpu" and handed to a registered agent: its lease.
  runyard::v1::Lease SubmitAndTake() {
    const std::string content = "print('training')\n";
    EXPECT_TRUE(blobs_->Put(content).ok());
    runyard::v1::SnapshotManifest manifest;
    auto* entry = manifest.add_entries();
    entry->set_path("train.py");
    entry->set_mode(0644);
    entry->set_size(static_cast<int64_t>(content.size()));
    entry->set_digest(common::Sha256Hex(content));
    absl::StatusOr<std::string> snapshot = blobs_->Put(common::SerializeManifest(manifest));
    runyard::v1::RunSpec spec;
    spec.set_script("train.py");
    spec.set_compute_target("cpu");
    spec.set_snapshot_id(snapshot.value_or(""));
    EXPECT_TRUE(plane_->Submit(spec).ok());
    runyard::v1::RegisterRequest registration;
    registration.set_name("node-1");
    registration.set_pool("cpu");
    registration.set_slots(1);
    absl::StatusOr<runyard::v1::RegisterResponse> agent = plane_->Register(registration);
    runyard::v1::PollRequest poll;
    poll.set_agent_id(agent.ok() ? agent->agent_id() : "");
    poll.set_free_slots(1);
    poll.set_wait_ms(1000);
    absl::StatusOr<runyard::v1::PollResponse> handed = plane_->Poll(poll, [] { return false; });
    EXPECT_TRUE(handed.ok() && handed->assignments_size() == 1);
    return handed.ok() && handed->assignments_size() == 1 ? handed->assignments(0).lease() : runyard::v1::Lease{};
  }

  void AddAppend(runyard::v1::ReportRequest& request, const std::string& path, int64_t offset, const std::string& data) {
    auto* append = request.add_items()->mutable_append();
    *append->mutable_lease() = lease_;
    append->set_path(path);
    append->set_offset(offset);
    append->set_data(data);
  }
  void AddStatus(runyard::v1::ReportRequest& request, runyard::v1::RunStatus status) {
    auto* update = request.add_items()->mutable_status();
    *update->mutable_lease() = lease_;
    update->set_status(status);
  }
  std::vector<runyard::v1::RunStatus> History() {
    std::vector<runyard::v1::RunStatus> statuses;
    absl::StatusOr<runyard::v1::Run> run = plane_->Get(lease_.run_id());
    if (run.ok()) {
      for (const auto& event : run->history()) statuses.push_back(event.status());
    }
    return statuses;
  }
  std::string FileSize(const std::string& path) {
    absl::StatusOr<std::vector<runyard::v1::FileInfo>> listed = store_->ListFiles(lease_.run_id());
    if (listed.ok()) {
      for (const auto& file : *listed) {
        if (file.path() == path) return std::to_string(file.size());
      }
    }
    return "missing";
  }

  testutil::ScopedTempDir tmp_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<RunFiles> files_;
  std::unique_ptr<ControlPlane> plane_;
  runyard::v1::Lease lease_;
};

TEST_F(ControlPlaneReportTest, ItemsAreAppliedInOrder) {
  runyard::v1::ReportRequest request;
  AddStatus(request, runyard::v1::RUNNING);
  AddAppend(request, "user_logs/std_log.txt", 0, "hello ");
  AddAppend(request, "user_logs/std_log.txt", 6, "world\n");
  AddStatus(request, runyard::v1::FINALIZING);
  AddStatus(request, runyard::v1::COMPLETED);
  int64_t appended = 0;
  const runyard::v1::ReportResponse response = plane_->Report(request, &appended);
  EXPECT_EQ(response.applied(), 5);
  EXPECT_EQ(response.error_code(), 0) << response.error_message();
  EXPECT_EQ(appended, 12);
  EXPECT_EQ(FileSize("user_logs/std_log.txt"), "12");
  const std::vector<runyard::v1::RunStatus> history = History();
  ASSERT_GE(history.size(), 3u);
  EXPECT_EQ(history[history.size() - 3], runyard::v1::RUNNING);
  EXPECT_EQ(history[history.size() - 2], runyard::v1::FINALIZING);
  EXPECT_EQ(history.back(), runyard::v1::COMPLETED);
}

TEST_F(ControlPlaneReportTest, AGapStopsTheReportThereAndSaysSo) {
  runyard::v1::ReportRequest request;
  AddAppend(request, "logs/a.txt", 0, "abc");
  AddAppend(request, "logs/a.txt", 10, "too far");  // the server lacks bytes 3..9
  AddStatus(request, runyard::v1::COMPLETED);      // never looked at
  const runyard::v1::ReportResponse response = plane_->Report(request);
  EXPECT_EQ(response.applied(), 1);
  EXPECT_EQ(response.error_code(), static_cast<int>(absl::StatusCode::kOutOfRange));
  EXPECT_EQ(FileSize("logs/a.txt"), "3");
  EXPECT_NE(History().back(), runyard::v1::COMPLETED);
}

TEST_F(ControlPlaneReportTest, ResentItemsAreHarmlessAndAStaleLeaseIsRefused) {
  runyard::v1::ReportRequest request;
  AddAppend(request, "logs/a.txt", 0, "abc");
  EXPECT_EQ(plane_->Report(request).applied(), 1);
  EXPECT_EQ(plane_->Report(request).applied(), 1);  // the same bytes again: taken, nothing doubled
  EXPECT_EQ(FileSize("logs/a.txt"), "3");

  runyard::v1::ReportRequest stale;
  AddStatus(stale, runyard::v1::RUNNING);
  stale.mutable_items(0)->mutable_status()->mutable_lease()->set_fencing_token(lease_.fencing_token() + 7);
  const runyard::v1::ReportResponse refused = plane_->Report(stale);
  EXPECT_EQ(refused.applied(), 0);
  EXPECT_EQ(refused.error_code(), static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(refused.error_message(), HasSubstr("lease"));
}

TEST_F(ControlPlaneReportTest, AnEmptyItemIsRefusedByName) {
  runyard::v1::ReportRequest request;
  request.add_items();
  const runyard::v1::ReportResponse response = plane_->Report(request);
  EXPECT_EQ(response.applied(), 0);
  EXPECT_EQ(response.error_code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(response.error_message(), HasSubstr("append or a status"));
}

}  // namespace
}  // namespace runyard::server
