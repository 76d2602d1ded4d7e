// Tests for the flags of `runyard list` and `runyard tag` (cli/run_filters.h,
// BuildSetTagsRequest), children nested under their parent in `list`, `runyard show`'s
// details (cli/run_details.h) and `runyard experiments` (cli/experiment_listing.h).

#include "cli/commands.h"
#include "cli/experiment_listing.h"
#include "cli/render.h"
#include "cli/run_details.h"
#include "cli/run_filters.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace runyard::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

TEST(ParseKeyValueTest, KeyAloneMeansAnyValue) {
  auto pair = ParseKeyValue("--tag", "team=vision");
  ASSERT_TRUE(pair.ok());
  EXPECT_EQ(*pair, std::make_pair(std::string("team"), std::string("vision")));
  pair = ParseKeyValue("--tag", "reviewed");
  ASSERT_TRUE(pair.ok());
  EXPECT_EQ(*pair, std::make_pair(std::string("reviewed"), std::string()));
  pair = ParseKeyValue("--tag", "eq=a=b");  // only the first '=' splits
  ASSERT_TRUE(pair.ok());
  EXPECT_EQ(pair->second, "a=b");
}

TEST(ParseKeyValueTest, AMissingKeyIsAnErrorNamingTheFlag) {
  auto pair = ParseKeyValue("--tag", "=x");
  EXPECT_TRUE(absl::IsInvalidArgument(pair.status()));
  EXPECT_EQ(pair.status().message(), "--tag wants KEY=VALUE or KEY: got '=x'");
  EXPECT_FALSE(ParseKeyValue("--property", "").ok());
}

TEST(ParseStatusFlagTest, AnyCaseOfThePrintedName) {
  EXPECT_EQ(ParseStatusFlag("Running").value(), runyard::v1::RUNNING);
  EXPECT_EQ(ParseStatusFlag("completed").value(), runyard::v1::COMPLETED);
  EXPECT_EQ(ParseStatusFlag("CANCELREQUESTED").value(), runyard::v1::CANCEL_REQUESTED);
}

TEST(ParseStatusFlagTest, AWrongNameListsTheValidOnes) {
  auto status = ParseStatusFlag("runing");
  EXPECT_TRUE(absl::IsInvalidArgument(status.status()));
  EXPECT_THAT(
      std::string(status.status().message()),
      HasSubstr("--status 'runing' is not a run status: use one of NotStarted, Queued, Preparing, "
                "Starting, Running, Finalizing, Completed, Failed, Canceled, CancelRequested, "
                "NotResponding"));
  EXPECT_FALSE(ParseStatusFlag("Unknown").ok());
}

TEST(BuildListRequestTest, EveryFlagBecomesAFilter) {
  ListFlags flags;
  flags.experiment = "mnist";
  flags.limit = 7;
  flags.tags = {"team=vision", "reviewed"};
  flags.properties = {"runyard.git.branch=main"};
  flags.status = "failed";
  flags.parent = "run-1";
  flags.archived = true;
  auto request = BuildListRequest(flags);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->experiment(), "mnist");
  EXPECT_EQ(request->limit(), 7);
  EXPECT_THAT(request->tags(), UnorderedElementsAre(Pair("team", "vision"), Pair("reviewed", "")));
  EXPECT_THAT(request->properties(), UnorderedElementsAre(Pair("runyard.git.branch", "main")));
  EXPECT_EQ(request->status(), runyard::v1::FAILED);
  EXPECT_EQ(request->parent_run_id(), "run-1");
  EXPECT_TRUE(request->include_archived());
}

TEST(BuildListRequestTest, BadFlagsAreRefusedClearly) {
  ListFlags flags;
  flags.tags = {"a=1", "a=2"};
  EXPECT_EQ(BuildListRequest(flags).status().message(),
            "--tag names 'a' twice: give each key once");
  flags.tags = {};
  flags.properties = {"=v"};
  EXPECT_EQ(BuildListRequest(flags).status().message(),
            "--property wants KEY=VALUE or KEY: got '=v'");
  flags.properties = {};
  flags.limit = -1;
  EXPECT_FALSE(BuildListRequest(flags).ok());
}

TEST(BuildSetTagsRequestTest, SetsAndRemoves) {
  TagOptions options;
  options.run_id = "run-1";
  options.tags = {"stage=tuned", "best"};
  options.remove = {"draft"};
  auto request = BuildSetTagsRequest(options);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->run_id(), "run-1");
  EXPECT_THAT(request->tags(), UnorderedElementsAre(Pair("stage", "tuned"), Pair("best", "")));
  EXPECT_THAT(request->remove(), testing::ElementsAre("draft"));
}

TEST(BuildSetTagsRequestTest, NothingToDoOrContradictionsAreErrors) {
  TagOptions options;
  options.run_id = "run-1";
  EXPECT_EQ(BuildSetTagsRequest(options).status().message(),
            "nothing to change: give KEY=VALUE tags or --remove KEY");
  options.tags = {"=x"};
  EXPECT_EQ(BuildSetTagsRequest(options).status().message(),
            "tag wants KEY=VALUE or KEY: got '=x'");
  options.tags = {"a=1"};
  options.remove = {"a"};
  EXPECT_EQ(BuildSetTagsRequest(options).status().message(),
            "tag 'a' is both set and removed: do one");
}

runyard::v1::Run MakeRun(const std::string& id, int64_t created, const std::string& parent = "") {
  runyard::v1::Run run;
  run.set_run_id(id);
  run.set_experiment("exp");
  run.set_target("local");
  run.set_status(runyard::v1::COMPLETED);
  run.set_created_unix_ms(created);
  run.set_parent_run_id(parent);
  return run;
}

// The RUN column of each data row, as printed (with its indentation).
std::vector<std::string> RunColumn(const std::string& table) {
  std::vector<std::string> ids;
  size_t at = table.find('\n') + 1;
  while (at < table.size()) {
    const size_t end = table.find('\n', at);
    const std::string line = table.substr(at, end - at);
    const size_t first = line.find_first_not_of(' ');
    ids.push_back(line.substr(0, line.find(' ', first)));
    at = end + 1;
  }
  return ids;
}

TEST(RunTreeTableTest, ChildrenSitIndentedUnderTheirParentInTheOrderTheyWereMade) {
  // Newest first, as listed: the children were created after the parent.
  std::vector<runyard::v1::Run> runs = {MakeRun("run-b_10", 5000, "run-b"),
                                        MakeRun("run-b_2", 5000, "run-b"),
                                        MakeRun("run-b", 4000),
                                        MakeRun("run-a_1", 3000, "run-a"),
                                        MakeRun("run-a", 2000),
                                        MakeRun("run-z_1", 1000, "run-z")};
  const std::string table = RunTreeTable(runs);
  EXPECT_THAT(RunColumn(table),
              testing::ElementsAre("run-b", "  run-b_2", "  run-b_10", "run-a", "  run-a_1",
                                   "run-z_1"));  // its parent is not listed
  EXPECT_THAT(table, Not(HasSubstr("TAGS")));
}

TEST(RunTreeTableTest, TagsShowWhenAnyRunHasThem) {
  runyard::v1::Run run = MakeRun("run-a", 1000);
  (*run.mutable_tags())["team"] = "vision";
  (*run.mutable_tags())["best"] = "";
  const std::string table = RunTreeTable({run, MakeRun("run-b", 900)});
  EXPECT_THAT(table, HasSubstr("TAGS\n"));
  EXPECT_THAT(table, HasSubstr(" best,team=vision\n"));
}

TEST(RunToJsonTest, CarriesParentTagsAndProperties) {
  runyard::v1::Run run = MakeRun("run-a_1", 1000, "run-a");
  (*run.mutable_tags())["k"] = "v";
  (*run.mutable_spec()->mutable_properties())["runyard.git.commit"] = "abc";
  (*run.mutable_properties())["added"] = "1";
  run.mutable_spec()->set_display_name("child-0");
  const nlohmann::json json = RunToJson(run);
  EXPECT_EQ(json["parent_run_id"], "run-a");
  EXPECT_EQ(json["display_name"], "child-0");
  EXPECT_EQ(json["tags"], nlohmann::json({{"k", "v"}}));
  EXPECT_EQ(json["properties"], nlohmann::json({{"added", "1"}, {"runyard.git.commit", "abc"}}));
}

runyard::v1::FileInfo File(const std::string& path, int64_t size) {
  runyard::v1::FileInfo file;
  file.set_path(path);
  file.set_size(size);
  return file;
}

RunDetails SampleDetails() {
  RunDetails details;
  details.run = MakeRun("run-a", 1000);
  details.run.set_agent_id("agent-1");
  details.run.set_target("cpu");
  details.run.set_has_exit_code(true);
  for (auto [status, time] :
       std::vector<std::pair<runyard::v1::RunStatus, int64_t>>{{runyard::v1::QUEUED, 1000},
                                                               {runyard::v1::RUNNING, 1500},
                                                               {runyard::v1::COMPLETED, 4500}}) {
    auto* event = details.run.add_history();
    event->set_status(status);
    event->set_time_unix_ms(time);
  }
  auto* spec = details.run.mutable_spec();
  spec->set_script("train.py");
  spec->add_arguments("--epochs");
  spec->add_arguments("3");
  spec->mutable_environment()->mutable_python()->set_interpreter_path("/usr/bin/python3");
  spec->mutable_environment()->mutable_python()->set_user_managed_dependencies(true);
  (*spec->mutable_environment()->mutable_environment_variables())["SECRET_TOKEN"] = "hunter2";
  (*details.run.mutable_tags())["team"] = "vision";
  (*details.run.mutable_properties())["runyard.git.commit"] = "abc123";
  runyard::v1::Run child = MakeRun("run-a_1", 1200, "run-a");
  child.mutable_spec()->set_display_name("child-0");
  details.children = {child};
  details.files = {File("user_logs/std_log.txt", 120), File("system_logs/run_records.jsonl", 900),
                   File("logs/images/curve-0.png", 2048), File("outputs/model.pt", 1000),
                   File("outputs/a/b.txt", 24)};
  return details;
}

TEST(RunDetailsTest, TextNamesEverythingAUserAsksAbout) {
  const std::string text = RenderDetails(SampleDetails());
  for (const char* expected :
       {"Run:           run-a\n", "Status:        Completed (exit code 0)\n",
        "Target:        cpu\n", "Agent:         agent-1\n", "Parent:        none\n",
        "Children:      1\n", "run-a_1", "child-0", "Duration:      3.500 s (3.000 s running)\n",
        "script:       train.py --epochs 3\n",
        "python /usr/bin/python3 (user managed); 1 variable (SECRET_TOKEN)", "team = vision\n",
        "runyard.git.commit = abc123\n", "user_logs/std_log.txt", "system_logs/run_records.jsonl",
        "logs/images/curve-0.png", "Outputs:       2 files, "}) {
    EXPECT_THAT(text, HasSubstr(expected));
  }
  EXPECT_THAT(text, Not(HasSubstr("hunter2")));  // variable values may be secrets
  EXPECT_THAT(text, Not(HasSubstr("outputs/model.pt")));
}

TEST(RunDetailsTest, JsonHasTheDefinitionTimingsChildrenAndFiles) {
  const nlohmann::json json = DetailsToJson(SampleDetails());
  EXPECT_EQ(json["run_id"], "run-a");
  EXPECT_EQ(json["children"],
            nlohmann::json::array(
                {{{"run_id", "run-a_1"}, {"display_name", "child-0"}, {"status", "Completed"}}}));
  EXPECT_EQ(json["durations"]["total_ms"], 3500);
  EXPECT_EQ(json["durations"]["running_ms"], 3000);
  EXPECT_EQ(json["start_time"], "1970-01-01T00:00:01.500Z");
  EXPECT_EQ(json["definition"]["script"], "train.py");
  EXPECT_EQ(json["definition"]["environment"]["variables"],
            nlohmann::json::array({"SECRET_TOKEN"}));
  EXPECT_EQ(json["log_files"].size(), 3u);
  EXPECT_EQ(json["outputs"], nlohmann::json({{"files", 2}, {"bytes", 1024}}));
  EXPECT_EQ(json["properties"]["runyard.git.commit"], "abc123");
  EXPECT_THAT(json.dump(), Not(HasSubstr("hunter2")));
}

TEST(RunDetailsTest, ARunNotYetStartedSaysSo) {
  RunDetails details;
  details.run = MakeRun("run-q", 1000);
  details.run.set_status(runyard::v1::QUEUED);
  details.files_listed = false;
  const std::string text = RenderDetails(details);
  EXPECT_THAT(text, HasSubstr("Started:       not yet\n"));
  EXPECT_THAT(text, HasSubstr("Log files:     the file listing could not be read\n"));
  EXPECT_TRUE(DetailsToJson(details)["outputs"].is_null());
}

TEST(ExperimentTableTest, SortedByNameWithRunsLastRunAndArchived) {
  runyard::v1::ExperimentInfo mnist;
  mnist.set_name("mnist");
  mnist.set_run_count(3);
  mnist.set_last_run_unix_ms(1000);
  runyard::v1::ExperimentInfo old;
  old.set_name("attic");
  old.set_archived(true);
  const std::string table = ExperimentTable({{mnist, "local"}, {old, "127.0.0.1:9"}});
  EXPECT_EQ(table,
            "EXPERIMENT    RUNS  LAST RUN                  ARCHIVED  STORE\n"
            "attic            0  -                         yes       127.0.0.1:9\n"
            "mnist            3  1970-01-01T00:00:01.000Z  no        local\n");
  const nlohmann::json json = ExperimentsToJson({{old, "local"}});
  EXPECT_TRUE(json[0]["last_run"].is_null());
  EXPECT_EQ(json[0]["archived"], true);
}

}  // namespace
}  // namespace runyard::cli
