// Tests for what the CLI shows about an ended run and its files: cli/run_summary.h (the
// summary `runyard run` and `runyard logs -f` end with), cli/file_listing.h (upload state
// in `runyard files`) and the download progress line.

#include "cli/run_summary.h"

#include "cli/download_progress.h"
#include "cli/file_listing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace runyard::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A run with the given statuses, one every `step_ms` from t=1000.
runyard::v1::Run RunWith(const std::vector<runyard::v1::RunStatus>& statuses, int64_t step_ms) {
  runyard::v1::Run run;
  run.set_run_id("run-1a2b3c4d");
  int64_t time = 1000;
  for (auto status : statuses) {
    auto* event = run.add_history();
    event->set_status(status);
    event->set_time_unix_ms(time);
    time += step_ms;
  }
  run.set_status(statuses.back());
  return run;
}

runyard::v1::FileInfo Info(const std::string& path, int64_t size) {
  runyard::v1::FileInfo info;
  info.set_path(path);
  info.set_size(size);
  return info;
}

const std::vector<runyard::v1::RunStatus> kRanToEnd = {
    runyard::v1::NOT_STARTED, runyard::v1::QUEUED,     runyard::v1::PREPARING, runyard::v1::STARTING,
    runyard::v1::RUNNING,     runyard::v1::FINALIZING, runyard::v1::COMPLETED};

TEST(RunSummaryTest, CompletedRunWithOutputs) {
  runyard::v1::Run run = RunWith(kRanToEnd, 500);
  run.set_has_exit_code(true);
  run.set_exit_code(0);
  const RunSummary summary =
      SummarizeRun(run, {Info("outputs/model.npz", 1200), Info("outputs/sub/a.txt", 34), Info("logs/m.csv", 9)},
                   DownloadOutputsCommand(run.run_id(), "127.0.0.1:7878"));
  EXPECT_EQ(summary.total_ms, 3000);
  EXPECT_EQ(summary.running_ms, 1000);
  EXPECT_EQ(summary.output_files, 2);
  EXPECT_EQ(summary.output_bytes, 1234);
  EXPECT_EQ(RenderSummary(summary),
            "\nRun run-1a2b3c4d Completed (exit code 0) after 3.000 s (1.000 s running)\n"
            "Outputs: runyard download run-1a2b3c4d --prefix outputs/ -o run-1a2b3c4d --server 127.0.0.1:7878\n"
            "Details: runyard status run-1a2b3c4d  |  files: runyard files run-1a2b3c4d\n");
}

TEST(RunSummaryTest, FailedRunShowsErrorAndExitCode) {
  runyard::v1::Run run = RunWith({runyard::v1::QUEUED, runyard::v1::RUNNING, runyard::v1::FAILED}, 65000);
  run.set_has_exit_code(true);
  run.set_exit_code(3);
  run.mutable_error()->set_code("UserError");
  run.mutable_error()->set_message("the script exited with code 3");
  const std::string text = RenderSummary(SummarizeRun(run, {Info("outputs/x", 1)}, "/home/u/runs/run-1/outputs"));
  EXPECT_EQ(text,
            "\nRun run-1a2b3c4d Failed (exit code 3) after 2 min 10 s (1 min 5 s running)\n"
            "Error: UserError: the script exited with code 3\n"
            "Outputs: /home/u/runs/run-1/outputs\n"
            "Details: runyard status run-1a2b3c4d  |  files: runyard files run-1a2b3c4d\n");
}

TEST(RunSummaryTest, RunCanceledBeforeItRanHasNoRunningTimeNoExitCodeNoOutputs) {
  runyard::v1::Run run = RunWith({runyard::v1::NOT_STARTED, runyard::v1::QUEUED, runyard::v1::CANCELED}, 100);
  run.mutable_error()->set_code("Canceled");
  run.mutable_error()->set_message("the run was canceled before it started");
  const RunSummary summary = SummarizeRun(run, {}, "unused");
  EXPECT_FALSE(summary.running_ms.has_value());
  EXPECT_FALSE(summary.exit_code.has_value());
  const std::string text = RenderSummary(summary);
  EXPECT_THAT(text, HasSubstr("\nRun run-1a2b3c4d Canceled after 0.200 s\n"));
  EXPECT_THAT(text, HasSubstr("Error: Canceled: the run was canceled before it started\n"));
  EXPECT_THAT(text, HasSubstr("Outputs: none (the run wrote nothing to outputs/)\n"));
  EXPECT_THAT(text, Not(HasSubstr("exit code")));
}

TEST(RunSummaryTest, OutputsWhoseListingCouldNotBeReadStillSayWhereTheyAre) {
  RunSummary summary = SummarizeRun(RunWith(kRanToEnd, 1), {}, "/somewhere/outputs");
  summary.outputs_counted = false;
  EXPECT_THAT(RenderSummary(summary), HasSubstr("Outputs: /somewhere/outputs\n"));
  const nlohmann::json json = SummaryToJson(summary);
  EXPECT_TRUE(json["outputs"]["files"].is_null());
  EXPECT_TRUE(json["outputs"]["bytes"].is_null());
  EXPECT_EQ(json["outputs"]["location"], "/somewhere/outputs");
}

TEST(RunSummaryTest, Json) {
  runyard::v1::Run run = RunWith(kRanToEnd, 500);
  run.set_status(runyard::v1::FAILED);
  run.set_has_exit_code(true);
  run.set_exit_code(2);
  run.mutable_error()->set_code("UserError");
  run.mutable_error()->set_message("exit 2");
  const nlohmann::json json = SummaryToJson(SummarizeRun(run, {Info("outputs/a", 10)}, "CMD"));
  EXPECT_EQ(json["run_id"], "run-1a2b3c4d");
  EXPECT_EQ(json["status"], "Failed");
  EXPECT_EQ(json["duration_ms"], 3000);
  EXPECT_EQ(json["running_ms"], 1000);
  EXPECT_EQ(json["exit_code"], 2);
  EXPECT_EQ(json["error"]["code"], "UserError");
  EXPECT_EQ(json["error"]["message"], "exit 2");
  EXPECT_EQ(json["outputs"]["files"], 1);
  EXPECT_EQ(json["outputs"]["bytes"], 10);
  EXPECT_EQ(json["outputs"]["location"], "CMD");

  const nlohmann::json none = SummaryToJson(SummarizeRun(RunWith({runyard::v1::CANCELED}, 1), {}, "CMD"));
  EXPECT_TRUE(none["exit_code"].is_null());
  EXPECT_TRUE(none["running_ms"].is_null());
  EXPECT_TRUE(none["error"].is_null());
  EXPECT_TRUE(none["outputs"]["location"].is_null());
}

TEST(RunSummaryTest, DownloadCommandNamesTheServerOnlyWhenThereIsOne) {
  EXPECT_EQ(DownloadOutputsCommand("run-9", ""), "runyard download run-9 --prefix outputs/ -o run-9");
  EXPECT_EQ(DownloadOutputsCommand("run-9", "h:1"), "runyard download run-9 --prefix outputs/ -o run-9 --server h:1");
}

// ------------------------------------------------------------------ upload state

TEST(FileListingTest, FilesAreUploadingUntilTheRunEndsThenComplete) {
  EXPECT_EQ(FilesUploadState(RunWith({runyard::v1::RUNNING}, 1)), UploadState::kUploading);
  EXPECT_EQ(FilesUploadState(RunWith({runyard::v1::FINALIZING}, 1)), UploadState::kUploading);
  EXPECT_EQ(FilesUploadState(RunWith({runyard::v1::NOT_RESPONDING}, 1)), UploadState::kUploading);
  EXPECT_EQ(FilesUploadState(RunWith({runyard::v1::COMPLETED}, 1)), UploadState::kComplete);
  EXPECT_EQ(FilesUploadState(RunWith({runyard::v1::FAILED}, 1)), UploadState::kComplete);
  EXPECT_EQ(FilesUploadState(RunWith({runyard::v1::CANCELED}, 1)), UploadState::kComplete);
  runyard::v1::Run lost = RunWith({runyard::v1::FAILED}, 1);
  lost.mutable_error()->set_code("AgentLost");
  EXPECT_EQ(FilesUploadState(lost), UploadState::kIncomplete);
  EXPECT_THAT(UploadStateNote(lost, UploadState::kIncomplete), HasSubstr("lost agent"));
}

TEST(FileListingTest, JsonAndTableCarryTheState) {
  const std::vector<runyard::v1::FileInfo> files = {Info("outputs/a.txt", 5), Info("outputs/empty", 0)};
  const nlohmann::json uploading = FilesToJson(files, UploadState::kUploading);
  ASSERT_EQ(uploading.size(), 2u);
  EXPECT_EQ(uploading[0]["path"], "outputs/a.txt");
  EXPECT_EQ(uploading[0]["size"], 5);
  EXPECT_EQ(uploading[0]["complete"], false);
  EXPECT_EQ(uploading[0]["upload"], "uploading");
  const nlohmann::json complete = FilesToJson(files, UploadState::kComplete);
  EXPECT_EQ(complete[1]["complete"], true);
  EXPECT_EQ(complete[1]["size"], 0);
  EXPECT_EQ(FileTable(files, UploadState::kComplete),
            "        SIZE  UPLOAD      PATH\n"
            "           5  complete    outputs/a.txt\n"
            "           0  complete    outputs/empty\n");
}

// ------------------------------------------------------------------ download progress

TEST(DownloadProgressLineTest, ShowsBytesAndFiles) {
  EXPECT_EQ(DownloadProgressLine(2500000, 5000000, 3, 7, 1.0),
            "downloading [############            ]  50% 2.5 MB/5.0 MB  3/7 files  2.5 MB/s");
  // Only empty files: done when the files are.
  EXPECT_EQ(DownloadProgressLine(0, 0, 2, 2, 0.0),
            "downloading [########################] 100% 0 B/0 B  2/2 files  0.0 MB/s");
  // A file that grew past the listing never shows more than 100%.
  EXPECT_THAT(DownloadProgressLine(12, 10, 1, 1, 1.0), HasSubstr("] 100% "));
}

}  // namespace
}  // namespace runyard::cli
