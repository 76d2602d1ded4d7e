// Tests for common/spec_yaml.h: strict YAML parsing of run specs, spec validation and
// loading a spec file relative to its folder.

#include "common/spec_yaml.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::common {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr char kFullSpec[] = R"yaml(
experiment: quickstart
display_name: first try
source_directory: src
script: train.py
arguments: [--epochs, 40, --lr, 1.0]
compute_target: cpu
max_run_duration_seconds: 600
environment:
  name: debian-python
  python:
    user_managed_dependencies: true
    interpreter_path: /usr/bin/python3
    pip_packages: [numpy, torch]
  environment_variables:
    SEED: "7"
    MODE: fast
resources:
  cpus: 2
  memory_mb: 512
  gpus: 1
tags:
  owner: alice
  stage: dev
successful_return_codes: [0, 3]
)yaml";

// Parses `yaml` and expects an InvalidArgument error naming `field` in the usual form.
void ExpectFieldError(const std::string& yaml, const std::string& field) {
  absl::StatusOr<runyard::v1::RunSpec> spec = ParseRunSpecYaml(yaml);
  ASSERT_FALSE(spec.ok()) << "parsed unexpectedly:\n" << yaml;
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument) << spec.status();
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr("'" + field + "'"));
}

runyard::v1::RunSpec ScriptSpec() {
  runyard::v1::RunSpec spec;
  spec.set_script("train.py");
  return spec;
}

using ::runyard::testutil::ScopedTempDir;

void WriteFile(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary) << text;
}

// ------------------------------------------------------------------ parsing

TEST(ParseRunSpecYamlTest, FullSpecParsesEveryField) {
  absl::StatusOr<runyard::v1::RunSpec> spec = ParseRunSpecYaml(kFullSpec);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->experiment(), "quickstart");
  EXPECT_EQ(spec->display_name(), "first try");
  EXPECT_EQ(spec->source_directory(), "src");
  EXPECT_EQ(spec->script(), "train.py");
  EXPECT_EQ(spec->compute_target(), "cpu");
  EXPECT_EQ(spec->max_run_duration_seconds(), 600);
  EXPECT_EQ(spec->environment().name(), "debian-python");
  EXPECT_TRUE(spec->environment().python().user_managed_dependencies());
  EXPECT_EQ(spec->environment().python().interpreter_path(), "/usr/bin/python3");
  EXPECT_THAT(spec->environment().python().pip_packages(), ElementsAre("numpy", "torch"));
  EXPECT_EQ(spec->resources().cpus(), 2);
  EXPECT_EQ(spec->resources().memory_mb(), 512);
  EXPECT_EQ(spec->resources().gpus(), 1);
  EXPECT_THAT(spec->successful_return_codes(), ElementsAre(0, 3));
}

TEST(ParseRunSpecYamlTest, NumericArgumentsBecomeStringsAsWritten) {
  absl::StatusOr<runyard::v1::RunSpec> spec = ParseRunSpecYaml(kFullSpec);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_THAT(spec->arguments(), ElementsAre("--epochs", "40", "--lr", "1.0"));
}

TEST(ParseRunSpecYamlTest, EnvironmentVariablesAndTagsAreStringMaps) {
  absl::StatusOr<runyard::v1::RunSpec> spec = ParseRunSpecYaml(kFullSpec);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_THAT(spec->environment().environment_variables(),
              UnorderedElementsAre(Pair("SEED", "7"), Pair("MODE", "fast")));
  EXPECT_THAT(spec->tags(), UnorderedElementsAre(Pair("owner", "alice"), Pair("stage", "dev")));
}

TEST(ParseRunSpecYamlTest, SecretVariablesAreParsedInEitherOrder) {
  for (const char* yaml : {"script: t.py\n"
                           "environment:\n"
                           "  environment_variables: {HF_AUTH: abc, SEED: '7'}\n"
                           "  secret_variables: [HF_AUTH]\n",
                           "script: t.py\n"
                           "environment:\n"
                           "  secret_variables: [HF_AUTH]\n"
                           "  environment_variables: {HF_AUTH: abc, SEED: '7'}\n"}) {
    absl::StatusOr<runyard::v1::RunSpec> spec = ParseRunSpecYaml(yaml);
    ASSERT_TRUE(spec.ok()) << spec.status();
    EXPECT_THAT(spec->environment().secret_variables(), ElementsAre("HF_AUTH"));
  }
}

TEST(ParseRunSpecYamlTest, SecretVariableWithoutAVariableIsRefusedByName) {
  absl::StatusOr<runyard::v1::RunSpec> spec = ParseRunSpecYaml(
      "script: t.py\n"
      "environment:\n"
      "  environment_variables: {HF_AUTH: abc}\n"
      "  secret_variables: [HF_AUHT]\n");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr("'HF_AUHT'"));
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr("environment.secret_variables"));
  EXPECT_THAT(std::string(spec.status().message()), Not(HasSubstr("abc")));
}

TEST(ParseRunSpecYamlTest, SecretVariablesMustBeAListOfNames) {
  ExpectFieldError("script: t.py\nenvironment:\n  secret_variables: HF_AUTH\n",
                   "environment.secret_variables");
}

TEST(ParseRunSpecYamlTest, CommandAsOneStringIsSplitOnWhitespace) {
  absl::StatusOr<runyard::v1::RunSpec> spec = ParseRunSpecYaml("command: python3  -m   pkg\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_THAT(spec->command(), ElementsAre("python3", "-m", "pkg"));
}

TEST(ParseRunSpecYamlTest, CommandAsListIsKeptAsIs) {
  absl::StatusOr<runyard::v1::RunSpec> spec =
      ParseRunSpecYaml("command: [/bin/sh, -c, 'echo a b']\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_THAT(spec->command(), ElementsAre("/bin/sh", "-c", "echo a b"));
}

TEST(ParseRunSpecYamlTest, UnknownTopLevelFieldIsNamed) {
  ExpectFieldError("script: train.py\nscirpt: typo.py\n", "scirpt");
}

TEST(ParseRunSpecYamlTest, UnknownNestedFieldIsNamedWithItsPath) {
  ExpectFieldError(
      "script: train.py\n"
      "environment:\n"
      "  python:\n"
      "    foo: 1\n",
      "environment.python.foo");
}

TEST(ParseRunSpecYamlTest, NonIntegerDurationIsNamed) {
  ExpectFieldError("script: train.py\nmax_run_duration_seconds: abc\n", "max_run_duration_seconds");
}

TEST(ParseRunSpecYamlTest, IntegerWithTrailingGarbageIsRefused) {
  ExpectFieldError("script: train.py\nmax_run_duration_seconds: 10s\n", "max_run_duration_seconds");
}

TEST(ParseRunSpecYamlTest, ScalarWhereAListIsExpectedIsNamed) {
  ExpectFieldError("script: train.py\narguments: x\n", "arguments");
}

TEST(ParseRunSpecYamlTest, ListWhereAStringIsExpectedIsNamed) {
  ExpectFieldError("script: [a, b]\n", "script");
}

TEST(ParseRunSpecYamlTest, NestedWrongTypeIsNamedWithItsPath) {
  ExpectFieldError(
      "script: train.py\n"
      "environment:\n"
      "  python:\n"
      "    interpreter_path: [a]\n",
      "environment.python.interpreter_path");
}

TEST(ParseRunSpecYamlTest, ListElementOfWrongTypeIsNamedWithItsIndex) {
  ExpectFieldError("script: train.py\narguments: [a, {b: c}]\n", "arguments[1]");
}

TEST(ParseRunSpecYamlTest, NonIntegerReturnCodeIsNamedWithItsIndex) {
  ExpectFieldError("script: train.py\nsuccessful_return_codes: [0, one]\n",
                   "successful_return_codes[1]");
}

TEST(ParseRunSpecYamlTest, NonBooleanUserManagedDependenciesIsNamed) {
  ExpectFieldError(
      "script: train.py\n"
      "environment:\n"
      "  python:\n"
      "    user_managed_dependencies: maybe\n",
      "environment.python.user_managed_dependencies");
}

TEST(ParseRunSpecYamlTest, NegativeResourceIsNamed) {
  ExpectFieldError("script: train.py\nresources:\n  cpus: -1\n", "resources.cpus");
}

// 32-bit fields refuse numbers out of their range rather than wrapping them.
TEST(ParseRunSpecYamlTest, ReturnCodeOutOfRangeIsRefusedRatherThanWrapped) {
  ExpectFieldError("script: train.py\nsuccessful_return_codes: [4294967296]\n",
                   "successful_return_codes[0]");
}

TEST(ParseRunSpecYamlTest, GpusOutOfRangeIsRefusedRatherThanWrapped) {
  ExpectFieldError("script: train.py\nresources:\n  gpus: 4294967297\n", "resources.gpus");
}

TEST(ParseRunSpecYamlTest, CpusMayBeFractionalButNotNegativeOrText) {
  absl::StatusOr<runyard::v1::RunSpec> spec = ParseRunSpecYaml("script: train.py\nresources:\n  cpus: 0.5\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_DOUBLE_EQ(spec->resources().cpus(), 0.5);
  ExpectFieldError("script: train.py\nresources:\n  cpus: -1\n", "resources.cpus");
  ExpectFieldError("script: train.py\nresources:\n  cpus: many\n", "resources.cpus");
}

TEST(ParseRunSpecYamlTest, TopLevelKeyGivenTwiceIsRefused) {
  ExpectFieldError("script: a.py\nscript: b.py\n", "script");
}

TEST(ParseRunSpecYamlTest, NestedKeyGivenTwiceIsRefusedWithItsPath) {
  ExpectFieldError(
      "script: train.py\n"
      "environment:\n"
      "  python:\n"
      "    interpreter_path: /a\n"
      "    interpreter_path: /b\n",
      "environment.python.interpreter_path");
}

// More of distributed_job_config in spec_yaml_distributed_test.cc.
TEST(ParseRunSpecYamlTest, DistributedJobConfigWithNoKindIsRefusedByName) {
  ExpectFieldError("script: train.py\ndistributed_job_config: {}\n", "distributed_job_config");
}

TEST(ParseRunSpecYamlTest, DocumentThatIsNotAMappingIsRefused) {
  absl::StatusOr<runyard::v1::RunSpec> spec = ParseRunSpecYaml("- a\n- b\n");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseRunSpecYamlTest, EmptyDocumentIsRefused) {
  absl::StatusOr<runyard::v1::RunSpec> spec = ParseRunSpecYaml("");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ParseRunSpecYamlTest, MalformedYamlIsInvalidArgumentWithLine) {
  absl::StatusOr<runyard::v1::RunSpec> spec =
      ParseRunSpecYaml("script: train.py\narguments: [a, b\n");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr("line"));
}

// ------------------------------------------------------------------ validation

TEST(ValidateRunSpecTest, ScriptAloneIsValid) { EXPECT_TRUE(ValidateRunSpec(ScriptSpec()).ok()); }

TEST(ValidateRunSpecTest, CommandAloneIsValid) {
  runyard::v1::RunSpec spec;
  spec.add_command("/bin/true");
  EXPECT_TRUE(ValidateRunSpec(spec).ok());
}

TEST(ValidateRunSpecTest, NeitherScriptNorCommandNamesScript) {
  absl::Status status = ValidateRunSpec(runyard::v1::RunSpec());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("'script'"));
}

TEST(ValidateRunSpecTest, BothScriptAndCommandIsRefused) {
  runyard::v1::RunSpec spec = ScriptSpec();
  spec.add_command("/bin/true");
  absl::Status status = ValidateRunSpec(spec);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("not both"));
}

TEST(ValidateRunSpecTest, NegativeDurationIsRefused) {
  runyard::v1::RunSpec spec = ScriptSpec();
  spec.set_max_run_duration_seconds(-1);
  absl::Status status = ValidateRunSpec(spec);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("'max_run_duration_seconds'"));
}

TEST(ValidateRunSpecTest, ExperimentWithSlashIsRefused) {
  runyard::v1::RunSpec spec = ScriptSpec();
  spec.set_experiment("a/b");
  absl::Status status = ValidateRunSpec(spec);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("'experiment'"));
}

TEST(ValidateRunSpecTest, ExperimentOfAllowedCharactersIsValid) {
  runyard::v1::RunSpec spec = ScriptSpec();
  spec.set_experiment("mnist-v2_final.1");
  EXPECT_TRUE(ValidateRunSpec(spec).ok());
}

TEST(ValidateRunSpecTest, EnvironmentVariableNameWithEqualsIsRefused) {
  runyard::v1::RunSpec spec = ScriptSpec();
  (*spec.mutable_environment()->mutable_environment_variables())["A=B"] = "1";
  absl::Status status = ValidateRunSpec(spec);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("environment.environment_variables"));
}

TEST(ValidateRunSpecTest, SecretVariableWithoutAVariableIsRefusedByName) {
  runyard::v1::RunSpec spec = ScriptSpec();
  spec.mutable_environment()->add_secret_variables("MISSING");
  absl::Status status = ValidateRunSpec(spec);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("'MISSING'"));
}

// ------------------------------------------------------------------ spec files

TEST(LoadRunSpecFileTest, RelativeSourceDirectoryIsResolvedAgainstTheFilesFolder) {
  ScopedTempDir dir;
  const fs::path file = dir.path() / "project" / "run.yaml";
  WriteFile(file, "script: train.py\nsource_directory: ../code\n");
  absl::StatusOr<runyard::v1::RunSpec> spec = LoadRunSpecFile(file);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(fs::path(spec->source_directory()), (dir.path() / "code").lexically_normal());
}

TEST(LoadRunSpecFileTest, DotSourceDirectoryIsTheFilesFolderWithoutTrailingSlash) {
  ScopedTempDir dir;
  const fs::path file = dir.path() / "project" / "run.yaml";
  WriteFile(file, "script: train.py\nsource_directory: .\n");
  absl::StatusOr<runyard::v1::RunSpec> spec = LoadRunSpecFile(file);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->source_directory(), (dir.path() / "project").lexically_normal().string());
}

TEST(LoadRunSpecFileTest, MissingSourceDirectoryMeansTheFilesFolder) {
  ScopedTempDir dir;
  const fs::path file = dir.path() / "project" / "run.yaml";
  WriteFile(file, "script: train.py\n");
  absl::StatusOr<runyard::v1::RunSpec> spec = LoadRunSpecFile(file);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->source_directory(), (dir.path() / "project").lexically_normal().string());
}

TEST(LoadRunSpecFileTest, AbsoluteSourceDirectoryIsKept) {
  ScopedTempDir dir;
  const fs::path file = dir.path() / "run.yaml";
  WriteFile(file, "script: train.py\nsource_directory: /opt/code\n");
  absl::StatusOr<runyard::v1::RunSpec> spec = LoadRunSpecFile(file);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->source_directory(), "/opt/code");
}

TEST(LoadRunSpecFileTest, ParseErrorNamesTheFileAndTheField) {
  ScopedTempDir dir;
  const fs::path file = dir.path() / "bad.yaml";
  WriteFile(file, "script: train.py\nbogus: 1\n");
  absl::StatusOr<runyard::v1::RunSpec> spec = LoadRunSpecFile(file);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr("bad.yaml"));
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr("'bogus'"));
}

TEST(LoadRunSpecFileTest, MissingFileIsNotFound) {
  ScopedTempDir dir;
  absl::StatusOr<runyard::v1::RunSpec> spec = LoadRunSpecFile(dir.path() / "absent.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace runyard::common
