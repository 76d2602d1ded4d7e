// Tests for the control plane's in-run API (server/control_plane_run_api.cc and
// control_plane_run_records.cc) against a real SqliteStore: record lines appended as the
// agent sends them become metrics, tags, properties and child runs exactly once; children
// end with their parent; the script's run.fail() decides how the run ends; limits say
// which limit in system_logs/run_api_errors.txt; GetMetrics, SetTags, List's filters and
// experiments.

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/unit/control_plane_fixture.h"

namespace runyard::server {
namespace {

using runyard::v1::RunStatus;
using test_support::ControlPlaneTest;
using test_support::History;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr char kRecords[] = "system_logs/run_records.jsonl";
constexpr char kErrors[] = "system_logs/run_api_errors.txt";

class RunApiTest : public ControlPlaneTest {
 protected:
  // Appends `data` to the run's record channel after what was sent before (or at
  // `offset`), as the agent's spool does.
  absl::Status Send(const runyard::v1::Lease& lease, const std::string& data, int64_t offset = -1,
                    bool truncate = false) {
    int64_t& sent = sent_[lease.run_id()];
    runyard::v1::AppendRequest request;
    *request.mutable_lease() = lease;
    request.set_path(kRecords);
    request.set_offset(offset >= 0 ? offset : sent);
    request.set_data(data);
    request.set_truncate(truncate);
    absl::StatusOr<runyard::v1::AppendResponse> response = Plane().Append(request);
    if (response.ok()) sent = response->committed_size();
    return response.status();
  }

  static std::string Scalar(const std::string& name, double value, int step = -1) {
    std::string line =
        absl::StrCat(R"({"k":"metric","n":")", name, R"(","type":"scalar","v":[)", value, "]");
    if (step >= 0) absl::StrAppend(&line, R"(,"s":)", step);
    return line + R"(,"t":1700000000.25})" + "\n";
  }

  runyard::v1::GetMetricsResponse Metrics(const std::string& run_id, const std::string& name = "",
                                          int64_t after_seq = 0, int max_values = 0) {
    runyard::v1::GetMetricsRequest request;
    request.set_run_id(run_id);
    request.set_name(name);
    request.set_with_values(!name.empty());
    request.set_after_seq(after_seq);
    request.set_max_values(max_values);
    absl::StatusOr<runyard::v1::GetMetricsResponse> response = Plane().GetMetrics(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : runyard::v1::GetMetricsResponse{};
  }

  // The numbers of one series, in order.
  std::vector<double> Numbers(const std::string& run_id, const std::string& name) {
    std::vector<double> numbers;
    runyard::v1::GetMetricsResponse response = Metrics(run_id, name);
    if (response.series_size() == 0) return numbers;
    for (const auto& value : response.series(0).values()) numbers.push_back(value.number());
    return numbers;
  }

  std::string ErrorsOf(const std::string& run_id) {
    std::ifstream in(tmp_.path() / "files" / run_id / kErrors);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  runyard::v1::Run RunOf(const std::string& run_id) {
    absl::StatusOr<runyard::v1::Run> run = Plane().Get(run_id);
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? *run : runyard::v1::Run{};
  }

  absl::Status End(const runyard::v1::Lease& lease, RunStatus status) {
    return Report(lease, status).status();
  }

  std::map<std::string, int64_t> sent_;
};

// ------------------------------------------------------------------ metrics

TEST_F(RunApiTest, RecordsBecomeMetricsWithTheirTypesAndOrder) {
  const runyard::v1::Lease lease = RunningRun();
  const std::string& run = lease.run_id();
  std::string lines = Scalar("loss", 0.5, 0) + Scalar("loss", 0.25, 1) + Scalar("acc", 0.9) +
                      Scalar("loss", 0.125, 2);
  lines += R"({"k":"metric","n":"phase","type":"scalar","v":["warmup"],"d":"what runs"})"
           "\n";
  lines += R"({"k":"metric","n":"ok","type":"scalar","v":[true]})"
           "\n";
  lines += R"({"k":"metric","n":"ten","type":"list","v":[0,1,2,3,4,5,6,7,8,9]})"
           "\n";
  lines += R"({"k":"metric","n":"row","type":"row","v":[{"epoch":1,"loss":0.5}]})"
           "\n";
  lines += R"({"k":"metric","n":"curve","type":"image","v":["logs/images/curve-0.png"]})"
           "\n";
  ASSERT_TRUE(Send(lease, lines).ok());

  const runyard::v1::GetMetricsResponse all = Metrics(run);
  std::vector<std::string> series;
  for (const auto& one : all.series()) {
    series.push_back(absl::StrCat(one.name(), " ", one.kind(), " ", one.count()));
  }
  EXPECT_THAT(series, ElementsAre("acc scalar 1", "curve image 1", "loss scalar 3", "ok scalar 1",
                                  "phase scalar 1", "row row 1", "ten list 10"));
  EXPECT_EQ(all.next_seq(), -1);

  EXPECT_THAT(Numbers(run, "loss"), ElementsAre(0.5, 0.25, 0.125));
  const runyard::v1::MetricSeries loss = Metrics(run, "loss").series(0);
  EXPECT_EQ(loss.values(2).seq(), 2);
  EXPECT_EQ(loss.values(2).step(), 2);
  EXPECT_TRUE(loss.values(2).has_step());
  EXPECT_DOUBLE_EQ(loss.values(2).wall_time(), 1700000000.25);
  EXPECT_DOUBLE_EQ(loss.min(), 0.125);
  EXPECT_DOUBLE_EQ(loss.max(), 0.5);
  EXPECT_DOUBLE_EQ(loss.last().number(), 0.125);

  const runyard::v1::MetricSeries phase = Metrics(run, "phase").series(0);
  EXPECT_EQ(phase.values(0).text(), "warmup");
  EXPECT_EQ(phase.description(), "what runs");
  EXPECT_DOUBLE_EQ(Metrics(run, "ok").series(0).values(0).number(), 1);
  EXPECT_THAT(Numbers(run, "ten"), ElementsAre(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
  EXPECT_EQ(Metrics(run, "row").series(0).values(0).json(), R"({"epoch":1,"loss":0.5})");
  EXPECT_EQ(Metrics(run, "curve").series(0).values(0).text(), "logs/images/curve-0.png");
  EXPECT_EQ(ErrorsOf(run), "");
}

TEST_F(RunApiTest, GetMetricsPagesTheValuesOfOneSeries) {
  const runyard::v1::Lease lease = RunningRun();
  std::string lines;
  for (int i = 0; i < 25; ++i) lines += Scalar("x", i);
  ASSERT_TRUE(Send(lease, lines).ok());
  runyard::v1::GetMetricsResponse page = Metrics(lease.run_id(), "x", 0, 10);
  EXPECT_EQ(page.series(0).values_size(), 10);
  EXPECT_EQ(page.next_seq(), 10);
  page = Metrics(lease.run_id(), "x", 20, 10);
  EXPECT_EQ(page.series(0).values_size(), 5);
  EXPECT_DOUBLE_EQ(page.series(0).values(0).number(), 20);
  EXPECT_EQ(page.next_seq(), -1);
}

TEST_F(RunApiTest, GetMetricsRefusesAnUnknownRunAndValuesWithoutAName) {
  runyard::v1::GetMetricsRequest request;
  request.set_run_id("run-nope");
  EXPECT_EQ(Plane().GetMetrics(request).status().code(), absl::StatusCode::kNotFound);
  request.set_run_id(SubmitRun());
  EXPECT_TRUE(Plane().GetMetrics(request).ok());
  request.set_with_values(true);
  EXPECT_EQ(Plane().GetMetrics(request).status().code(), absl::StatusCode::kInvalidArgument);
}

// ------------------------------------------------------------------ exactly once

TEST_F(RunApiTest, TheSameBytesTwiceAreIngestedOnce) {
  const runyard::v1::Lease lease = RunningRun();
  const std::string lines = Scalar("loss", 1) + Scalar("loss", 2);
  ASSERT_TRUE(Send(lease, lines, 0).ok());
  ASSERT_TRUE(Send(lease, lines, 0).ok());  // a retried report
  EXPECT_THAT(Numbers(lease.run_id(), "loss"), ElementsAre(1, 2));
}

TEST_F(RunApiTest, AResendAfterTruncationIsIngestedOnce) {
  const runyard::v1::Lease lease = RunningRun();
  const std::string first = Scalar("loss", 1) + Scalar("loss", 2);
  const std::string second = Scalar("loss", 3);
  ASSERT_TRUE(Send(lease, first).ok());
  ASSERT_TRUE(Send(lease, second).ok());
  // A restarted agent sends the file again from 0, in pieces: nothing before the ingested
  // offset counts again, and what is past it counts once.
  ASSERT_TRUE(Send(lease, first.substr(0, 10), 0, /*truncate=*/true).ok());
  EXPECT_THAT(Numbers(lease.run_id(), "loss"), ElementsAre(1, 2, 3));
  ASSERT_TRUE(Send(lease, first.substr(10) + second).ok());
  ASSERT_TRUE(Send(lease, Scalar("loss", 4)).ok());
  EXPECT_THAT(Numbers(lease.run_id(), "loss"), ElementsAre(1, 2, 3, 4));
}

TEST_F(RunApiTest, ALineSplitAcrossAppendsIsIngestedOnceComplete) {
  const runyard::v1::Lease lease = RunningRun();
  const std::string line = Scalar("loss", 7);
  ASSERT_TRUE(Send(lease, Scalar("loss", 6) + line.substr(0, 12)).ok());
  EXPECT_THAT(Numbers(lease.run_id(), "loss"), ElementsAre(6));
  ASSERT_TRUE(Send(lease, line.substr(12, 5)).ok());
  EXPECT_THAT(Numbers(lease.run_id(), "loss"), ElementsAre(6));
  ASSERT_TRUE(Send(lease, line.substr(17)).ok());
  EXPECT_THAT(Numbers(lease.run_id(), "loss"), ElementsAre(6, 7));
}

TEST_F(RunApiTest, RecordsOfARunLostWithItsAgentAreStillIngested) {
  const runyard::v1::Lease lease = RunningRun();
  ASSERT_TRUE(Plane().FailLostRun(lease.run_id(), "agent gone").ok());
  ASSERT_TRUE(Send(lease, Scalar("loss", 1)).ok());  // the restarted agent's salvage
  EXPECT_THAT(Numbers(lease.run_id(), "loss"), ElementsAre(1));
}

TEST_F(RunApiTest, EachValueKeepsTheRankThatLoggedIt) {
  const runyard::v1::Lease lease = RunningRun();
  const std::string& run = lease.run_id();
  std::string lines;
  for (int rank = 0; rank < 3; ++rank) {
    absl::StrAppend(&lines, R"({"k":"metric","n":"loss","type":"scalar","rank":)", rank,
                    R"(,"v":[)", rank * 10, R"(],"t":1700000000.5})", "\n");
  }
  lines += R"({"k":"metric","n":"loss","type":"scalar","v":[99],"t":1700000000.5})"
           "\n";
  lines += R"({"k":"metric","n":"acc","type":"list","rank":1,"v":[1,2],"t":1700000000.5})"
           "\n";
  ASSERT_TRUE(Send(lease, lines).ok());
  const runyard::v1::MetricSeries loss = Metrics(run, "loss").series(0);
  ASSERT_EQ(loss.values_size(), 4);
  for (int rank = 0; rank < 3; ++rank) {
    EXPECT_TRUE(loss.values(rank).has_rank());
    EXPECT_EQ(loss.values(rank).rank(), rank);
    EXPECT_DOUBLE_EQ(loss.values(rank).number(), rank * 10);
  }
  EXPECT_FALSE(loss.values(3).has_rank());  // a line without a rank: a single process's
  const runyard::v1::MetricSeries acc = Metrics(run, "acc").series(0);
  ASSERT_EQ(acc.values_size(), 2);
  EXPECT_EQ(acc.values(1).rank(), 1);
  // The summary's last value carries its rank too.
  const runyard::v1::GetMetricsResponse summaries = Metrics(run);
  ASSERT_EQ(summaries.series_size(), 2);
  for (const auto& summary : summaries.series()) {
    if (summary.name() == "acc") {
      EXPECT_EQ(summary.last().rank(), 1);
    } else {
      EXPECT_FALSE(summary.last().has_rank()) << summary.name();
    }
  }
  EXPECT_EQ(ErrorsOf(run), "");
}

// ------------------------------------------------------------------ refusals and limits

TEST_F(RunApiTest, ABadRankIsRefusedNamingItAndTheRestIsKept) {
  const runyard::v1::Lease lease = RunningRun();
  const std::string good = Scalar("loss", 1);
  ASSERT_TRUE(Send(lease, good +
                              R"({"k":"metric","n":"loss","type":"scalar","rank":-2,"v":[5]})"
                              "\n" +
                              Scalar("loss", 2))
                  .ok());
  EXPECT_THAT(Numbers(lease.run_id(), "loss"), ElementsAre(1, 2));
  EXPECT_THAT(ErrorsOf(lease.run_id()),
              HasSubstr(absl::StrCat(kRecords, " byte ", good.size(),
                                     ": rank \"rank\" must be an integer in [0, 2147483647], "
                                     "not -2")));
}

TEST_F(RunApiTest, ARefusedLineIsExplainedWithItsOffsetAndTheRestIsKept) {
  const runyard::v1::Lease lease = RunningRun();
  const std::string good = Scalar("loss", 1);
  ASSERT_TRUE(Send(lease, good + "this is not json\n" + Scalar("loss", 2)).ok());
  EXPECT_THAT(Numbers(lease.run_id(), "loss"), ElementsAre(1, 2));
  EXPECT_THAT(ErrorsOf(lease.run_id()),
              HasSubstr(absl::StrCat(kRecords, " byte ", good.size(), ": not valid JSON")));
}

TEST_F(RunApiTest, ARecordAboutAnotherRunIsRefused) {
  const runyard::v1::Lease lease = RunningRun();
  const std::string other = SubmitRun();
  ASSERT_TRUE(
      Send(lease, absl::StrCat(R"({"k":"tag","tags":{"a":"1"},"r":")", other, "\"}\n")).ok());
  EXPECT_THAT(RunOf(other).tags(), IsEmpty());
  EXPECT_THAT(ErrorsOf(lease.run_id()), HasSubstr("is neither run " + lease.run_id()));
}

TEST_F(RunApiTest, MetricValuesPastTheLimitAreRefusedNamingIt) {
  ControlPlaneOptions options = DefaultOptions();
  options.max_metric_values_per_run = 5;
  Plane(options);
  const runyard::v1::Lease lease = RunningRun();
  ASSERT_TRUE(Send(lease, R"({"k":"metric","n":"l","type":"list","v":[1,2,3,4]})"
                          "\n")
                  .ok());
  ASSERT_TRUE(Send(lease, R"({"k":"metric","n":"l","type":"list","v":[5,6]})"
                          "\n" +
                              Scalar("l", 5))
                  .ok());
  EXPECT_THAT(Numbers(lease.run_id(), "l"), ElementsAre(1, 2, 3, 4, 5));
  const std::string errors = ErrorsOf(lease.run_id());
  EXPECT_THAT(errors, HasSubstr("max_metric_values_per_run 5 reached"));
  EXPECT_THAT(errors, HasSubstr("the 2 value(s) of metric 'l' are not kept"));
}

TEST_F(RunApiTest, ChildrenAndTagsPastTheirLimitsAreRefusedNamingThem) {
  ControlPlaneOptions options = DefaultOptions();
  options.max_children_per_run = 1;
  options.max_tags_per_run = 2;
  Plane(options);
  const runyard::v1::Lease lease = RunningRun();
  const std::string& run = lease.run_id();
  ASSERT_TRUE(Send(lease, absl::StrCat(R"({"k":"child","r":")", run, R"(_0"})", "\n",
                                       R"({"k":"child","r":")", run, R"(_1"})", "\n",
                                       R"({"k":"tag","tags":{"a":"1","b":"2"}})", "\n",
                                       R"({"k":"tag","tags":{"c":"3"}})", "\n"))
                  .ok());
  EXPECT_TRUE(*Plane().RunExists(run + "_0"));
  EXPECT_FALSE(*Plane().RunExists(run + "_1"));
  EXPECT_EQ(RunOf(run).tags_size(), 2);
  const std::string errors = ErrorsOf(run);
  EXPECT_THAT(errors, HasSubstr("max_children_per_run 1 reached"));
  EXPECT_THAT(errors, HasSubstr("max_tags_per_run 2 reached"));
}

TEST_F(RunApiTest, ALineOverOneMebibyteIsRefusedAndTheNextOneKept) {
  const runyard::v1::Lease lease = RunningRun();
  const std::string huge = R"({"k":"tag","tags":{"a":")" + std::string(2 << 20, 'x') + "\"}}\n";
  // In pieces of 1 MiB, as the agent sends them.
  for (size_t at = 0; at < huge.size(); at += 1 << 20) {
    ASSERT_TRUE(Send(lease, huge.substr(at, 1 << 20)).ok());
  }
  ASSERT_TRUE(Send(lease, Scalar("loss", 1)).ok());
  EXPECT_THAT(Numbers(lease.run_id(), "loss"), ElementsAre(1));
  EXPECT_THAT(RunOf(lease.run_id()).tags(), IsEmpty());
  EXPECT_THAT(ErrorsOf(lease.run_id()), HasSubstr("1048576"));
}

// ------------------------------------------------------------------ tags and properties

TEST_F(RunApiTest, TagsChangeAndPropertiesDoNot) {
  const runyard::v1::Lease lease = RunningRun();
  const std::string& run = lease.run_id();
  ASSERT_TRUE(Send(lease, R"({"k":"tag","tags":{"a":"1"}})"
                          "\n"
                          R"({"k":"tag","tags":{"a":"2","b":""}})"
                          "\n"
                          R"({"k":"props","props":{"p":"x"}})"
                          "\n"
                          R"({"k":"props","props":{"p":"x"}})"
                          "\n"
                          R"({"k":"props","props":{"p":"y","q":"z"}})"
                          "\n")
                  .ok());
  const runyard::v1::Run got = RunOf(run);
  EXPECT_EQ(got.tags().at("a"), "2");
  EXPECT_EQ(got.tags().at("b"), "");
  EXPECT_EQ(got.properties().at("p"), "x");
  EXPECT_EQ(got.properties().count("q"), 0u);
  EXPECT_THAT(ErrorsOf(run), HasSubstr("property 'p' of run " + run + " is already 'x'"));
}

TEST_F(RunApiTest, SetTagsSetsRemovesAndChecks) {
  const std::string run = SubmitRun();
  runyard::v1::SetTagsRequest request;
  request.set_run_id(run);
  (*request.mutable_tags())["team"] = "vision";
  (*request.mutable_tags())["old"] = "x";
  ASSERT_TRUE(Plane().SetTags(request).ok());
  request.mutable_tags()->clear();
  request.add_remove("old");
  absl::StatusOr<runyard::v1::Run> tagged = Plane().SetTags(request);
  ASSERT_TRUE(tagged.ok()) << tagged.status();
  EXPECT_EQ(tagged->tags_size(), 1);
  EXPECT_EQ(tagged->tags().at("team"), "vision");

  runyard::v1::SetTagsRequest bad;
  bad.set_run_id(run);
  (*bad.mutable_tags())[""] = "x";
  EXPECT_EQ(Plane().SetTags(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad.mutable_tags()->clear();
  (*bad.mutable_tags())[std::string(256, 'k')] = "x";
  EXPECT_THAT(Plane().SetTags(bad).status().message(), HasSubstr("at most 255"));
  bad.mutable_tags()->clear();
  (*bad.mutable_tags())["k"] = std::string(65537, 'v');
  EXPECT_THAT(Plane().SetTags(bad).status().message(), HasSubstr("at most 65536"));
  bad.mutable_tags()->clear();
  (*bad.mutable_tags())["k"] = "v";
  bad.set_run_id("run-nope");
  EXPECT_EQ(Plane().SetTags(bad).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RunApiTest, SetTagsRefusesMoreThanTheLimit) {
  ControlPlaneOptions options = DefaultOptions();
  options.max_tags_per_run = 2;
  Plane(options);
  runyard::v1::SetTagsRequest request;
  request.set_run_id(SubmitRun());
  for (const char* key : {"a", "b", "c"}) (*request.mutable_tags())[key] = "1";
  absl::Status refused = Plane().SetTags(request).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(), HasSubstr("max_tags_per_run 2"));
}

// ------------------------------------------------------------------ children

TEST_F(RunApiTest, ChildrenAreRunsOfTheirOwnListedWithTheirParent) {
  const runyard::v1::Lease lease = RunningRun();
  const std::string& run = lease.run_id();
  ASSERT_TRUE(
      Send(lease, absl::StrCat(R"({"k":"child","r":")", run,
                               R"(_0","name":"fold 0","tags":{"fold":"0"},"t":1700000001})", "\n",
                               R"({"k":"child","r":")", run, R"(_1","name":"fold 1"})", "\n",
                               R"({"k":"metric","n":"acc","type":"scalar","v":[0.7],"r":")", run,
                               "_0\"}\n", R"({"k":"status","s":"Completed","r":")", run, "_0\"}\n",
                               R"({"k":"child","r":")", run, R"(_0","name":"again"})", "\n"))
          .ok());
  const runyard::v1::Run child = RunOf(run + "_0");
  EXPECT_EQ(child.parent_run_id(), run);
  EXPECT_EQ(child.experiment(), "exp");
  EXPECT_EQ(child.target(), "cpu");
  EXPECT_EQ(child.spec().display_name(), "fold 0");
  EXPECT_EQ(child.tags().at("fold"), "0");
  EXPECT_EQ(child.status(), runyard::v1::COMPLETED);
  EXPECT_THAT(History(child),
              ElementsAre(runyard::v1::NOT_STARTED, runyard::v1::RUNNING, runyard::v1::COMPLETED));
  EXPECT_EQ(child.history(0).time_unix_ms(), 1700000001000);
  EXPECT_THAT(Numbers(run + "_0", "acc"), ElementsAre(0.7));
  EXPECT_EQ(RunOf(run + "_1").status(), runyard::v1::RUNNING);

  runyard::v1::ListRunsRequest children;
  children.set_parent_run_id(run);
  absl::StatusOr<std::vector<runyard::v1::Run>> listed = Plane().List(children);
  ASSERT_TRUE(listed.ok()) << listed.status();
  std::vector<std::string> ids;
  for (const auto& one : *listed) ids.push_back(one.run_id());
  EXPECT_THAT(ids, UnorderedElementsAre(run + "_0", run + "_1"));
  EXPECT_EQ(ErrorsOf(run), "");
}

TEST_F(RunApiTest, AChildIdNotOfTheParentsFormIsRefused) {
  const runyard::v1::Lease lease = RunningRun();
  ASSERT_TRUE(Send(lease, absl::StrCat(R"({"k":"child","r":"run-other_0"})", "\n",
                                       R"({"k":"child","r":")", lease.run_id(), R"(_x"})", "\n"))
                  .ok());
  EXPECT_FALSE(*Plane().RunExists("run-other_0"));
  EXPECT_THAT(ErrorsOf(lease.run_id()), HasSubstr("is not " + lease.run_id() + "_<n>"));
}

TEST_F(RunApiTest, UnfinishedChildrenEndWithTheirParent) {
  const runyard::v1::Lease lease = RunningRun();
  const std::string& run = lease.run_id();
  ASSERT_TRUE(Send(lease, absl::StrCat(R"({"k":"child","r":")", run, R"(_0"})", "\n",
                                       R"({"k":"child","r":")", run, R"(_1"})", "\n",
                                       R"({"k":"status","s":"Failed","r":")", run,
                                       R"(_1","error":{"message":"bad fold"}})", "\n"))
                  .ok());
  ASSERT_TRUE(End(lease, runyard::v1::COMPLETED).ok());
  EXPECT_EQ(RunOf(run + "_0").status(), runyard::v1::COMPLETED);
  const runyard::v1::Run failed = RunOf(run + "_1");
  EXPECT_EQ(failed.status(), runyard::v1::FAILED);
  EXPECT_EQ(failed.error().code(), "UserError");
  EXPECT_EQ(failed.error().message(), "bad fold");
}

TEST_F(RunApiTest, ChildrenOfAFailedParentFailWithParentRunEnded) {
  const runyard::v1::Lease lease = RunningRun();
  const std::string& run = lease.run_id();
  ASSERT_TRUE(Send(lease, absl::StrCat(R"({"k":"child","r":")", run, R"(_0"})", "\n")).ok());
  ASSERT_TRUE(End(lease, runyard::v1::FAILED).ok());
  const runyard::v1::Run child = RunOf(run + "_0");
  EXPECT_EQ(child.status(), runyard::v1::FAILED);
  EXPECT_EQ(child.error().code(), "ParentRunEnded");
  EXPECT_EQ(child.error().message(), "parent run " + run + " ended Failed");
}

TEST_F(RunApiTest, ChildrenOfARunLostWithItsAgentFailWithIt) {
  const runyard::v1::Lease lease = RunningRun();
  const std::string& run = lease.run_id();
  ASSERT_TRUE(Send(lease, absl::StrCat(R"({"k":"child","r":")", run, R"(_0"})", "\n")).ok());
  clock_.Advance(std::chrono::seconds(31));
  Plane().ReapExpiredLeasesNow();  // NotResponding
  EXPECT_EQ(RunOf(run + "_0").status(), runyard::v1::RUNNING);
  clock_.Advance(std::chrono::seconds(61));
  Plane().ReapExpiredLeasesNow();  // AgentLost
  EXPECT_EQ(RunOf(run).error().code(), "AgentLost");
  EXPECT_EQ(RunOf(run + "_0").error().code(), "ParentRunEnded");

  // The restarted agent's salvage still creates a child it logged: ended with the parent.
  ASSERT_TRUE(Send(lease, absl::StrCat(R"({"k":"child","r":")", run, R"(_1"})", "\n")).ok());
  EXPECT_EQ(RunOf(run + "_1").status(), runyard::v1::FAILED);
  EXPECT_EQ(RunOf(run + "_1").error().code(), "ParentRunEnded");
}

TEST_F(RunApiTest, CancelOfAChildEndsItAtOnce) {
  const runyard::v1::Lease lease = RunningRun();
  const std::string child = lease.run_id() + "_0";
  ASSERT_TRUE(Send(lease, absl::StrCat(R"({"k":"child","r":")", child, "\"}\n")).ok());
  absl::StatusOr<runyard::v1::Run> canceled = Plane().Cancel(child);
  ASSERT_TRUE(canceled.ok()) << canceled.status();
  EXPECT_EQ(canceled->status(), runyard::v1::CANCELED);
  EXPECT_EQ(RunOf(lease.run_id()).status(), runyard::v1::RUNNING);
}

TEST_F(RunApiTest, ChildrenOfALocalRunWhoseHolderIsGoneEndWithIt) {
  ControlPlaneOptions options = DefaultOptions();
  bool gone = false;
  options.lost_holder = [&gone](const runyard::v1::Run& run) -> std::optional<std::string> {
    if (gone && run.parent_run_id().empty()) return "the holder exited";
    return std::nullopt;
  };
  Plane(options);
  const runyard::v1::Lease lease = RunningRun();
  const std::string child = lease.run_id() + "_0";
  ASSERT_TRUE(Send(lease, absl::StrCat(R"({"k":"child","r":")", child, "\"}\n")).ok());
  gone = true;
  const runyard::v1::Run got = RunOf(child);  // reading the child looks at its parent
  EXPECT_EQ(got.status(), runyard::v1::FAILED);
  EXPECT_EQ(got.error().code(), "ParentRunEnded");
  EXPECT_EQ(RunOf(lease.run_id()).error().code(), "AgentLost");
}

// ------------------------------------------------------------------ the script's outcome

TEST_F(RunApiTest, RunFailMakesACompletedRunFailed) {
  const runyard::v1::Lease lease = RunningRun();
  ASSERT_TRUE(Send(lease, R"({"k":"status","s":"Failed","error":{"message":"accuracy too low"}})"
                          "\n")
                  .ok());
  EXPECT_EQ(RunOf(lease.run_id()).status(), runyard::v1::RUNNING);
  ASSERT_TRUE(End(lease, runyard::v1::COMPLETED).ok());
  const runyard::v1::Run run = RunOf(lease.run_id());
  EXPECT_EQ(run.status(), runyard::v1::FAILED);
  EXPECT_EQ(run.error().code(), "UserError");
  EXPECT_EQ(run.error().message(), "accuracy too low");
}

TEST_F(RunApiTest, RunCompleteRecordChangesNothing) {
  const runyard::v1::Lease lease = RunningRun();
  ASSERT_TRUE(Send(lease, R"({"k":"status","s":"Completed"})"
                          "\n")
                  .ok());
  EXPECT_EQ(RunOf(lease.run_id()).status(), runyard::v1::RUNNING);
  ASSERT_TRUE(End(lease, runyard::v1::COMPLETED).ok());
  EXPECT_EQ(RunOf(lease.run_id()).status(), runyard::v1::COMPLETED);
}

TEST_F(RunApiTest, RunCancelAsksForTheCancelAtOnce) {
  const runyard::v1::Lease lease = RunningRun();
  ASSERT_TRUE(Send(lease, R"({"k":"status","s":"Canceled"})"
                          "\n")
                  .ok());
  EXPECT_EQ(RunOf(lease.run_id()).status(), runyard::v1::CANCEL_REQUESTED);
  ASSERT_TRUE(End(lease, runyard::v1::COMPLETED).ok());  // the script exited 0 anyway
  EXPECT_EQ(RunOf(lease.run_id()).status(), runyard::v1::CANCELED);
  EXPECT_EQ(RunOf(lease.run_id()).error().code(), "Canceled");
}

// ------------------------------------------------------------------ listing, experiments

TEST_F(RunApiTest, ListFiltersByTagPropertyAndStatus) {
  runyard::v1::RunSpec spec = Spec();
  (*spec.mutable_tags())["team"] = "vision";
  (*spec.mutable_properties())["git"] = "abc";
  absl::StatusOr<runyard::v1::Run> tagged = Plane().Submit(spec);
  ASSERT_TRUE(tagged.ok()) << tagged.status();
  const std::string plain = SubmitRun();
  ASSERT_TRUE(Plane().Cancel(plain).ok());

  const auto ids = [&](const runyard::v1::ListRunsRequest& request) {
    std::vector<std::string> out;
    absl::StatusOr<std::vector<runyard::v1::Run>> runs = Plane().List(request);
    EXPECT_TRUE(runs.ok()) << runs.status();
    if (runs.ok()) {
      for (const auto& run : *runs) out.push_back(run.run_id());
    }
    return out;
  };
  runyard::v1::ListRunsRequest by_tag;
  (*by_tag.mutable_tags())["team"] = "vision";
  EXPECT_THAT(ids(by_tag), ElementsAre(tagged->run_id()));
  (*by_tag.mutable_tags())["team"] = "";  // any value
  EXPECT_THAT(ids(by_tag), ElementsAre(tagged->run_id()));
  runyard::v1::ListRunsRequest by_property;
  (*by_property.mutable_properties())["git"] = "abc";
  EXPECT_THAT(ids(by_property), ElementsAre(tagged->run_id()));
  runyard::v1::ListRunsRequest by_status;
  by_status.set_status(runyard::v1::CANCELED);
  EXPECT_THAT(ids(by_status), ElementsAre(plain));
}

TEST_F(RunApiTest, ArchivedExperimentsAreHiddenNotDeleted) {
  const std::string run = SubmitRun();  // experiment "exp"
  absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>> experiments =
      Plane().ListExperiments(false);
  ASSERT_TRUE(experiments.ok()) << experiments.status();
  ASSERT_EQ(experiments->size(), 1u);
  EXPECT_EQ((*experiments)[0].name(), "exp");
  EXPECT_EQ((*experiments)[0].run_count(), 1);

  absl::StatusOr<runyard::v1::ExperimentInfo> archived = Plane().SetExperimentArchived("exp", true);
  ASSERT_TRUE(archived.ok()) << archived.status();
  EXPECT_TRUE(archived->archived());
  EXPECT_THAT(*Plane().ListExperiments(false), IsEmpty());
  EXPECT_EQ(Plane().ListExperiments(true)->size(), 1u);
  EXPECT_THAT(*Plane().List(runyard::v1::ListRunsRequest{}), IsEmpty());
  runyard::v1::ListRunsRequest named;
  named.set_experiment("exp");
  EXPECT_EQ(Plane().List(named)->size(), 1u);  // naming it shows its runs

  ASSERT_TRUE(Plane().SetExperimentArchived("exp", false).ok());
  EXPECT_EQ(Plane().List(runyard::v1::ListRunsRequest{})->size(), 1u);
  EXPECT_EQ(Plane().SetExperimentArchived("nope", true).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(*Plane().RunExists(run));
}

// ------------------------------------------------------------------ cost

// One append of 1 MiB of scalar lines (what the agent sends at most at once) must ingest
// in well under a second; the rate is printed for the record.
TEST_F(RunApiTest, OneMebibyteOfScalarLinesIngestsQuickly) {
  const runyard::v1::Lease lease = RunningRun();
  std::string lines;
  int count = 0;
  while (true) {
    const std::string line = Scalar(count % 2 ? "loss" : "accuracy", 0.001 * count, count);
    if (lines.size() + line.size() > (1 << 20)) break;
    lines += line;
    ++count;
  }
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(Send(lease, lines).ok());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(Metrics(lease.run_id(), "loss").series(0).count() +
                Metrics(lease.run_id(), "accuracy").series(0).count(),
            count);
  std::printf("ingested %d scalar lines (%zu bytes) in %.3f s: %.0f lines/s\n", count, lines.size(),
              seconds, count / seconds);
  EXPECT_LT(seconds, 1.0);

  // log_list: 100 lines of 10,000 values is 1,000,000 values.
  std::string list = R"({"k":"metric","n":"big","type":"list","v":[)";
  for (int i = 0; i < 10000; ++i) absl::StrAppend(&list, i ? "," : "", i * 0.5);
  list += "]}\n";
  const auto list_start = std::chrono::steady_clock::now();
  std::string piece;
  for (int i = 0; i < 100; ++i) {
    piece += list;
    if (piece.size() + list.size() > (1 << 20) || i == 99) {
      ASSERT_TRUE(Send(lease, piece).ok());
      piece.clear();
    }
  }
  const double list_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - list_start).count();
  EXPECT_EQ(Metrics(lease.run_id(), "big").series(0).count(), 1'000'000);
  std::printf("ingested 1,000,000 list values in %.3f s: %.0f values/s\n", list_seconds,
              1e6 / list_seconds);
}

}  // namespace
}  // namespace runyard::server
