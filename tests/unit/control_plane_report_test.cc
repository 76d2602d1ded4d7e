// Tests for ControlPlane::Report (server/control_plane.h): a run's appends and statuses in
// one call are applied in order, each exactly as its own Append / UpdateStatus would be,
// and the first refusal stops the rest and says which item and why.

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/control_plane_fixture.h"

namespace runyard::server {
namespace {

using ::testing::HasSubstr;

class ControlPlaneReportTest : public test_support::ControlPlaneTest {
 protected:
  void SetUp() override {
    ControlPlaneTest::SetUp();
    lease_ = AssignedRun();
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
    absl::StatusOr<runyard::v1::Run> run = Plane().Get(lease_.run_id());
    return run.ok() ? test_support::History(*run) : std::vector<runyard::v1::RunStatus>{};
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
  const runyard::v1::ReportResponse response = Plane().Report(request, &appended);
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
  const runyard::v1::ReportResponse response = Plane().Report(request);
  EXPECT_EQ(response.applied(), 1);
  EXPECT_EQ(response.error_code(), static_cast<int>(absl::StatusCode::kOutOfRange));
  EXPECT_EQ(FileSize("logs/a.txt"), "3");
  EXPECT_NE(History().back(), runyard::v1::COMPLETED);
}

TEST_F(ControlPlaneReportTest, ResentItemsAreHarmlessAndAStaleLeaseIsRefused) {
  runyard::v1::ReportRequest request;
  AddAppend(request, "logs/a.txt", 0, "abc");
  EXPECT_EQ(Plane().Report(request).applied(), 1);
  EXPECT_EQ(Plane().Report(request).applied(), 1);  // the same bytes again: taken, nothing doubled
  EXPECT_EQ(FileSize("logs/a.txt"), "3");

  runyard::v1::ReportRequest stale;
  AddStatus(stale, runyard::v1::RUNNING);
  stale.mutable_items(0)->mutable_status()->mutable_lease()->set_fencing_token(lease_.fencing_token() + 7);
  const runyard::v1::ReportResponse refused = Plane().Report(stale);
  EXPECT_EQ(refused.applied(), 0);
  EXPECT_EQ(refused.error_code(), static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(refused.error_message(), HasSubstr("lease"));
}

TEST_F(ControlPlaneReportTest, AnEmptyItemIsRefusedByName) {
  runyard::v1::ReportRequest request;
  request.add_items();
  const runyard::v1::ReportResponse response = Plane().Report(request);
  EXPECT_EQ(response.applied(), 0);
  EXPECT_EQ(response.error_code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(response.error_message(), HasSubstr("append or a status"));
}

}  // namespace
}  // namespace runyard::server
