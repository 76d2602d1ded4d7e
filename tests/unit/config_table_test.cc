// Tests for common/config_table.h: one declaration per option gives the file reader, the
// flags (which override the file) and the printed effective configuration.

#include "common/config_table.h"

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <yaml-cpp/yaml.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::common {
namespace {

using ::testing::HasSubstr;
using ::runyard::testutil::ScopedTempDir;

struct Options {
  std::string name = "default";
  int slots = 1;
  int64_t bytes = 10;
  bool network = true;
  std::vector<std::string> paths = {"/a"};
  std::map<std::string, std::string> labels;
};

// One table over Options with its flags, as a daemon's main() builds it.
struct Daemon {
  Daemon() : table_("test config") {
    table_.Add("name", "a name", &options_.name);
    table_.Add("slots", "how many", &options_.slots);
    table_.Add("max_bytes", "a size", &options_.bytes);
    table_.Add("network", "allowed", &options_.network);
    table_.Add("paths", "folders", &options_.paths);
    table_.Add("labels", "tags", &options_.labels);
    table_.AddFlags(app_);
    table_.AddBoolAlias(app_, "--no-network", "network", false, "same as --network=false");
  }

  absl::Status LoadYaml(const std::string& yaml) {
    const auto file = dir_.path() / "config.yaml";
    std::ofstream(file) << yaml;
    return table_.LoadFile(file);
  }

  absl::Status Parse(std::vector<std::string> args) {
    args.insert(args.begin(), "test");
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    app_.parse(static_cast<int>(argv.size()), argv.data());
    return table_.ApplyFlags();
  }

  ScopedTempDir dir_;
  Options options_;
  CLI::App app_;
  ConfigTable table_;
};

class ConfigTableTest : public testing::Test, public Daemon {};

TEST_F(ConfigTableTest, ReadsEveryShapeFromTheFile) {
  ASSERT_TRUE(LoadYaml("name: node\nslots: 3\nmax_bytes: 21474836480\nnetwork: false\npaths: [/x, /y]\n"
                       "labels: {gpu: a100}\n").ok());
  EXPECT_EQ(options_.name, "node");
  EXPECT_EQ(options_.slots, 3);
  EXPECT_EQ(options_.bytes, 21474836480);
  EXPECT_FALSE(options_.network);
  EXPECT_EQ(options_.paths, (std::vector<std::string>{"/x", "/y"}));
  EXPECT_EQ(options_.labels, (std::map<std::string, std::string>{{"gpu", "a100"}}));
}

TEST_F(ConfigTableTest, AKeyWithNoValueKeepsItsDefault) {
  ASSERT_TRUE(LoadYaml("name:\nslots: 2\n").ok());
  EXPECT_EQ(options_.name, "default");
  EXPECT_EQ(options_.slots, 2);
}

TEST_F(ConfigTableTest, UnknownKeysAndBadValuesAreErrorsNamingTheKey) {
  EXPECT_THAT(std::string(LoadYaml("slotz: 3\n").message()), HasSubstr("unknown key 'slotz'"));
  EXPECT_THAT(std::string(LoadYaml("slots: many\n").message()), HasSubstr("key 'slots' has a value of the wrong type"));
  EXPECT_THAT(std::string(LoadYaml("name: [a, b]\n").message()), HasSubstr("key 'name'"));
  EXPECT_THAT(std::string(LoadYaml("labels: [a]\n").message()), HasSubstr("key 'labels'"));
  EXPECT_THAT(std::string(LoadYaml("- a\n- b\n").message()), HasSubstr("expected a mapping"));
  EXPECT_THAT(std::string(LoadYaml("name: [unclosed\n").message()), HasSubstr("test config"));
}

TEST_F(ConfigTableTest, FlagsOverrideTheFile) {
  ASSERT_TRUE(LoadYaml("name: from-file\nslots: 3\nlabels: {a: b}\n").ok());
  ASSERT_TRUE(Parse({"--slots", "5", "--labels", "gpu=a100", "--labels", "zone=b", "--paths", "/p", "--network=false"})
                  .ok());
  EXPECT_EQ(options_.name, "from-file");  // not given as a flag
  EXPECT_EQ(options_.slots, 5);
  EXPECT_EQ(options_.labels, (std::map<std::string, std::string>{{"gpu", "a100"}, {"zone", "b"}}));
  EXPECT_EQ(options_.paths, (std::vector<std::string>{"/p"}));
  EXPECT_FALSE(options_.network);
}

TEST_F(ConfigTableTest, ABoolFlagAloneMeansTrueAndAnAliasSetsItsValue) {
  options_.network = false;
  ASSERT_TRUE(Parse({"--network"}).ok());
  EXPECT_TRUE(options_.network);
  Daemon other;
  ASSERT_TRUE(other.Parse({"--no-network"}).ok());
  EXPECT_FALSE(other.options_.network);
}

TEST_F(ConfigTableTest, BadFlagValuesAreErrorsNamingTheFlag) {
  EXPECT_THAT(std::string(Parse({"--slots", "many"}).message()), HasSubstr("--slots many"));
  Daemon other;
  EXPECT_THAT(std::string(other.Parse({"--labels", "novalue"}).message()), HasSubstr("expected NAME=VALUE"));
}

TEST_F(ConfigTableTest, RenderedConfigurationReadsBackAsTheSameValues) {
  options_.name = "needs: quoting #";
  options_.labels = {{"gpu", "a100"}, {"odd key", "x: y"}};
  options_.paths = {"/a b", "/c"};
  const std::string text = table_.Render();
  EXPECT_THAT(text, HasSubstr("slots: 1  # how many\n"));
  // The comments go, the values come back unchanged.
  Options back;
  ConfigTable reader("read back");
  reader.Add("name", "", &back.name);
  reader.Add("slots", "", &back.slots);
  reader.Add("max_bytes", "", &back.bytes);
  reader.Add("network", "", &back.network);
  reader.Add("paths", "", &back.paths);
  reader.Add("labels", "", &back.labels);
  const auto file = dir_.path() / "rendered.yaml";
  std::ofstream(file) << text;
  ASSERT_TRUE(reader.LoadFile(file).ok()) << text;
  EXPECT_EQ(back.name, options_.name);
  EXPECT_EQ(back.labels, options_.labels);
  EXPECT_EQ(back.paths, options_.paths);
}

}  // namespace
}  // namespace runyard::common
