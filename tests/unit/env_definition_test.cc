// Tests for runtime/env_definition.h: what decides a managed environment's key, and the
// errors a bad environment section gets before anything is built.

#include "runtime/env_definition.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_command_runner.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::runtime {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kPython[] = "/usr/bin/python3";
constexpr char kPathVar[] = "/usr/local/bin:/usr/bin:/bin";

using ::runyard::testutil::ScopedTempDir;

void WriteFile(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << file;
}

void WriteExecutable(const fs::path& file, const std::string& text) {
  WriteFile(file, text);
  ASSERT_EQ(::chmod(file.c_str(), 0755), 0) << file;
}

runyard::v1::RunSpec PipSpec(const std::string& requirements_file) {
  runyard::v1::RunSpec spec;
  spec.set_script("train.py");
  spec.mutable_environment()->mutable_python()->set_pip_requirements_file(requirements_file);
  return spec;
}

runyard::v1::RunSpec CondaSpec(const std::string& file) {
  runyard::v1::RunSpec spec;
  spec.set_script("train.py");
  spec.mutable_environment()->mutable_python()->set_conda_dependencies_file(file);
  return spec;
}

class EnvDefinitionTest : public ::testing::Test {
 protected:
  absl::StatusOr<EnvironmentDefinition> Define(const runyard::v1::RunSpec& spec,
                                               const PipSettings& pip = {},
                                               const std::string& conda = "",
                                               const std::string& path_var = kPathVar,
                                               const std::string& base = kPython) {
    return DefineEnvironment(spec, dir_.path(), base, pip, conda, path_var);
  }

  // The key of the spec naming requirements.txt, after writing `text` there.
  std::string KeyOf(const std::string& text, const PipSettings& pip = {}) {
    WriteFile(dir_.path() / "requirements.txt", text);
    absl::StatusOr<EnvironmentDefinition> definition = Define(PipSpec("requirements.txt"), pip);
    EXPECT_TRUE(definition.ok()) << definition.status();
    if (!definition.ok()) return "";
    EXPECT_EQ(definition->kind, EnvironmentKind::kPip);
    EXPECT_EQ(definition->key.size(), 64u);
    return definition->key;
  }

  ScopedTempDir dir_;
};

// ---------------------------------------------------------------------------------------
// NormalizeRequirements

TEST(EnvNormalizeRequirementsTest, DropsCommentsBlankLinesAndTrailingSpaces) {
  EXPECT_THAT(NormalizeRequirements("# a comment\n"
                                    "\n"
                                    "numpy==1.26.4   \n"
                                    "   \n"
                                    "  requests>=2  # why we pin\n"
                                    "\t\n"
                                    "   # indented comment\n"
                                    "pandas\r\n"),
              ElementsAre("numpy==1.26.4", "pandas", "requests>=2"));
}

TEST(EnvNormalizeRequirementsTest, DeduplicatesAndSorts) {
  EXPECT_THAT(NormalizeRequirements("zeta\nalpha\nmid==1\nalpha\nzeta  \n"),
              ElementsAre("alpha", "mid==1", "zeta"));
}

TEST(EnvNormalizeRequirementsTest, EmptyAndCommentOnlyTextsGiveNothing) {
  EXPECT_THAT(NormalizeRequirements(""), IsEmpty());
  EXPECT_THAT(NormalizeRequirements("# only\n\n  # comments\n"), IsEmpty());
}

TEST(EnvNormalizeRequirementsTest, KeepsUrlFragmentsThatFollowNoSpace) {
  EXPECT_THAT(NormalizeRequirements("git+https://example.com/repo.git#egg=pkg\n"),
              ElementsAre("git+https://example.com/repo.git#egg=pkg"));
}

TEST(EnvNormalizeRequirementsTest, DropsCommentsAfterATab) {
  // pip's comment rule is `(^|\s+)#`: a tab before '#' starts a comment too.
  // pip starts a comment at a "#" after any whitespace, a tab included.
  EXPECT_THAT(NormalizeRequirements("numpy==1.26.4\t# pinned\n"), ElementsAre("numpy==1.26.4"));
}

TEST(EnvNormalizeRequirementsTest, KeepsBackslashContinuationsTogether) {
  // pip-compile --generate-hashes writes a requirement and its hashes as one logical line
  // continued with '\'. Sorting the physical lines apart breaks the requirement.
  // A trailing backslash continues the line, as pip-compile --generate-hashes writes it.
  const std::vector<std::string> lines = NormalizeRequirements(
      "zlib-ng==1.0 \\\n"
      "    --hash=sha256:bbbb\n"
      "aaa==2.0 \\\n"
      "    --hash=sha256:cccc\n");
  ASSERT_EQ(lines.size(), 2u) << ::testing::PrintToString(lines);
  EXPECT_THAT(lines[0], HasSubstr("aaa==2.0"));
  EXPECT_THAT(lines[0], HasSubstr("--hash=sha256:cccc"));
  EXPECT_THAT(lines[1], HasSubstr("zlib-ng==1.0"));
  EXPECT_THAT(lines[1], HasSubstr("--hash=sha256:bbbb"));
}

// ---------------------------------------------------------------------------------------
// DefineEnvironment: user-managed

TEST_F(EnvDefinitionTest, UserManagedDependenciesIsUserManagedWithoutKey) {
  runyard::v1::RunSpec spec = PipSpec("requirements.txt");  // ignored: the user manages it
  spec.mutable_environment()->mutable_python()->set_user_managed_dependencies(true);
  absl::StatusOr<EnvironmentDefinition> definition = Define(spec);
  ASSERT_TRUE(definition.ok()) << definition.status();
  EXPECT_EQ(definition->kind, EnvironmentKind::kUserManaged);
  EXPECT_THAT(definition->key, IsEmpty());
  EXPECT_THAT(definition->canonical, IsEmpty());
}

TEST_F(EnvDefinitionTest, NoPipOrCondaFieldsIsUserManaged) {
  runyard::v1::RunSpec spec;
  spec.set_script("train.py");
  spec.mutable_environment()->mutable_python()->set_interpreter_path(kPython);
  absl::StatusOr<EnvironmentDefinition> definition = Define(spec);
  ASSERT_TRUE(definition.ok()) << definition.status();
  EXPECT_EQ(definition->kind, EnvironmentKind::kUserManaged);
  EXPECT_THAT(definition->key, IsEmpty());
}

// ---------------------------------------------------------------------------------------
// DefineEnvironment: pip

TEST_F(EnvDefinitionTest, PipRequirementsFileGivesPipDefinitionWithKey) {
  WriteFile(dir_.path() / "requirements.txt", "# deps\nrequests==2.31.0\nnumpy\n");
  absl::StatusOr<EnvironmentDefinition> definition = Define(PipSpec("requirements.txt"));
  ASSERT_TRUE(definition.ok()) << definition.status();
  EXPECT_EQ(definition->kind, EnvironmentKind::kPip);
  EXPECT_EQ(definition->key.size(), 64u);
  EXPECT_THAT(definition->requirements, ElementsAre("numpy", "requests==2.31.0"));
  EXPECT_THAT(definition->canonical, HasSubstr("kind: pip"));
  EXPECT_THAT(definition->canonical, HasSubstr("requirement: requests==2.31.0"));
  EXPECT_THAT(definition->pip_options, IsEmpty());
}

TEST_F(EnvDefinitionTest, PipPackagesAloneGivePipDefinition) {
  runyard::v1::RunSpec spec;
  spec.set_script("train.py");
  spec.mutable_environment()->mutable_python()->add_pip_packages("requests==2.31.0");
  spec.mutable_environment()->mutable_python()->add_pip_packages("numpy  ");
  absl::StatusOr<EnvironmentDefinition> definition = Define(spec);
  ASSERT_TRUE(definition.ok()) << definition.status();
  EXPECT_EQ(definition->kind, EnvironmentKind::kPip);
  EXPECT_THAT(definition->requirements, ElementsAre("numpy", "requests==2.31.0"));
}

TEST_F(EnvDefinitionTest, KeyIsStableAcrossRuns) {
  EXPECT_EQ(KeyOf("requests==2.31.0\n"), KeyOf("requests==2.31.0\n"));
}

TEST_F(EnvDefinitionTest, KeyIgnoresOrderCommentsBlankLinesAndDuplicates) {
  const std::string key = KeyOf("requests==2.31.0\nnumpy==1.26.4\n");
  EXPECT_EQ(KeyOf("numpy==1.26.4\nrequests==2.31.0\n"), key);
  EXPECT_EQ(KeyOf("# header\n\nnumpy==1.26.4   # fast arrays\n\nrequests==2.31.0\nnumpy==1.26.4\n"),
            key);
}

TEST_F(EnvDefinitionTest, KeyIsTheSameForFileAndPackagesListingTheSameRequirements) {
  const std::string key = KeyOf("requests==2.31.0\n");
  runyard::v1::RunSpec spec;
  spec.mutable_environment()->mutable_python()->add_pip_packages("requests==2.31.0");
  absl::StatusOr<EnvironmentDefinition> definition = Define(spec);
  ASSERT_TRUE(definition.ok()) << definition.status();
  EXPECT_EQ(definition->key, key);
}

TEST_F(EnvDefinitionTest, KeyChangesWithARequirement) {
  const std::string key = KeyOf("requests==2.31.0\n");
  EXPECT_NE(KeyOf("requests==2.32.0\n"), key);
  EXPECT_NE(KeyOf("requests==2.31.0\nnumpy\n"), key);
}

TEST_F(EnvDefinitionTest, KeyChangesWithEveryPipSetting) {
  const std::string text = "requests==2.31.0\n";
  const std::string key = KeyOf(text);

  PipSettings find_links;
  find_links.find_links = {"/srv/wheelhouse"};
  PipSettings other_find_links;
  other_find_links.find_links = {"/srv/other-wheelhouse"};
  PipSettings no_index;
  no_index.no_index = true;
  PipSettings index_url;
  index_url.index_url = "https://pypi.example.com/simple";
  PipSettings extra_index;
  extra_index.extra_index_urls = {"https://extra.example.com/simple"};
  PipSettings site_packages;
  site_packages.system_site_packages = true;

  std::vector<std::string> keys = {key,
                                   KeyOf(text, find_links),
                                   KeyOf(text, other_find_links),
                                   KeyOf(text, no_index),
                                   KeyOf(text, index_url),
                                   KeyOf(text, extra_index),
                                   KeyOf(text, site_packages)};
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(std::unique(keys.begin(), keys.end()), keys.end()) << "two settings gave the same key";
}

TEST_F(EnvDefinitionTest, PipSettingsBecomePipOptions) {
  WriteFile(dir_.path() / "requirements.txt", "requests\n");
  PipSettings pip;
  pip.index_url = "https://pypi.example.com/simple";
  pip.extra_index_urls = {"https://extra.example.com/simple"};
  pip.find_links = {"/srv/wheelhouse"};
  pip.no_index = true;
  absl::StatusOr<EnvironmentDefinition> definition = Define(PipSpec("requirements.txt"), pip);
  ASSERT_TRUE(definition.ok()) << definition.status();
  EXPECT_THAT(definition->pip_options,
              ElementsAre("--index-url", "https://pypi.example.com/simple", "--extra-index-url",
                          "https://extra.example.com/simple", "--find-links", "/srv/wheelhouse",
                          "--no-index"));
}

TEST_F(EnvDefinitionTest, KeyChangesWithTheBaseInterpreter) {
  WriteFile(dir_.path() / "requirements.txt", "requests\n");
  absl::StatusOr<EnvironmentDefinition> usual = Define(PipSpec("requirements.txt"));
  ASSERT_TRUE(usual.ok()) << usual.status();

  // Another interpreter (a wrapper around the same python, at another path).
  ScopedTempDir bin;
  WriteExecutable(bin.path() / "python3", std::string("#!/bin/sh\nexec ") + kPython + " \"$@\"\n");
  absl::StatusOr<EnvironmentDefinition> other =
      Define(PipSpec("requirements.txt"), {}, "", kPathVar, (bin.path() / "python3").string());
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_NE(other->key, usual->key);
  EXPECT_EQ(other->base_interpreter, bin.path() / "python3");

  // The spec's interpreter_path wins over the node's default.
  runyard::v1::RunSpec spec = PipSpec("requirements.txt");
  spec.mutable_environment()->mutable_python()->set_interpreter_path(
      (bin.path() / "python3").string());
  absl::StatusOr<EnvironmentDefinition> from_spec = Define(spec);
  ASSERT_TRUE(from_spec.ok()) << from_spec.status();
  EXPECT_EQ(from_spec->key, other->key);
}

TEST_F(EnvDefinitionTest, BaseInterpreterIsResolvedToItsRealPath) {
  WriteFile(dir_.path() / "requirements.txt", "requests\n");
  absl::StatusOr<EnvironmentDefinition> definition = Define(PipSpec("requirements.txt"));
  ASSERT_TRUE(definition.ok()) << definition.status();
  EXPECT_EQ(definition->base_interpreter, fs::canonical(kPython));
  EXPECT_THAT(definition->canonical, HasSubstr("base: " + fs::canonical(kPython).string()));

  // A symlink to the same interpreter is the same environment.
  ScopedTempDir bin;
  fs::create_symlink(kPython, bin.path() / "py");
  absl::StatusOr<EnvironmentDefinition> linked =
      Define(PipSpec("requirements.txt"), {}, "", kPathVar, (bin.path() / "py").string());
  ASSERT_TRUE(linked.ok()) << linked.status();
  EXPECT_EQ(linked->base_interpreter, fs::canonical(kPython));
  EXPECT_EQ(linked->key, definition->key);
}

TEST_F(EnvDefinitionTest, BaseInterpreterFoundOnPathVar) {
  WriteFile(dir_.path() / "requirements.txt", "requests\n");
  absl::StatusOr<EnvironmentDefinition> definition =
      Define(PipSpec("requirements.txt"), {}, "", "/usr/bin", "python3");
  ASSERT_TRUE(definition.ok()) << definition.status();
  EXPECT_EQ(definition->base_interpreter, fs::canonical(kPython));
}

TEST_F(EnvDefinitionTest, MissingBaseInterpreterIsFailedPrecondition) {
  WriteFile(dir_.path() / "requirements.txt", "requests\n");
  absl::StatusOr<EnvironmentDefinition> definition =
      Define(PipSpec("requirements.txt"), {}, "", kPathVar, "/nonexistent/python3");
  ASSERT_FALSE(definition.ok());
  EXPECT_EQ(definition.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(definition.status().message(), HasSubstr("/nonexistent/python3"));
}

TEST_F(EnvDefinitionTest, BaseInterpreterThatDoesNotRunIsFailedPrecondition) {
  WriteFile(dir_.path() / "requirements.txt", "requests\n");
  ScopedTempDir bin;
  WriteExecutable(bin.path() / "python3", "#!/bin/sh\nexit 3\n");
  absl::StatusOr<EnvironmentDefinition> definition =
      Define(PipSpec("requirements.txt"), {}, "", kPathVar, (bin.path() / "python3").string());
  ASSERT_FALSE(definition.ok());
  EXPECT_EQ(definition.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(definition.status().message(), HasSubstr("does not run"));
}

// The interpreter's identity, asked through a CommandRunner: a fake answers for it.
class EnvDefinitionProbeTest : public EnvDefinitionTest {
 protected:
  absl::StatusOr<EnvironmentDefinition> DefineWith(runyard::fakes::FakeCommandRunner& commands) {
    WriteFile(dir_.path() / "requirements.txt", "requests\n");
    return DefineEnvironment(PipSpec("requirements.txt"), dir_.path(), kPython, {}, "", kPathVar,
                             &commands);
  }
  const std::string python_ = fs::canonical(kPython).string();  // what the probe runs
};

TEST_F(EnvDefinitionProbeTest, AsksTheResolvedInterpreterForItsVersionAndPlatform) {
  runyard::fakes::FakeCommandRunner commands;
  commands.AnswerOutput(python_, "3.99.0 (test)\nLinux-test\n");
  absl::StatusOr<EnvironmentDefinition> definition = DefineWith(commands);
  ASSERT_TRUE(definition.ok()) << definition.status();
  EXPECT_THAT(definition->canonical, HasSubstr("python: 3.99.0 (test)\nLinux-test\n"));
  ASSERT_EQ(commands.commands().size(), 1u);
  const common::HelperCommand probe = commands.commands()[0];
  ASSERT_EQ(probe.argv.size(), 3u);
  EXPECT_EQ(probe.argv[0], python_);
  EXPECT_EQ(probe.argv[1], "-c");
  EXPECT_GT(probe.timeout, std::chrono::seconds(0));
}

TEST_F(EnvDefinitionProbeTest, KeyChangesWithTheInterpretersVersion) {
  runyard::fakes::FakeCommandRunner commands;
  commands.AnswerOutput(python_, "3.11.2\nLinux\n");
  commands.AnswerOutput(python_, "3.11.9\nLinux\n");
  absl::StatusOr<EnvironmentDefinition> before = DefineWith(commands);
  absl::StatusOr<EnvironmentDefinition> after = DefineWith(commands);
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_NE(before->key, after->key);
}

TEST_F(EnvDefinitionProbeTest, InterpreterThatHangsIsFailedPreconditionSayingSo) {
  runyard::fakes::FakeCommandRunner commands;
  common::HelperCommandResult hung;
  hung.timed_out = true;
  commands.Answer(python_, hung);
  absl::StatusOr<EnvironmentDefinition> definition = DefineWith(commands);
  EXPECT_EQ(definition.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(definition.status().message(), HasSubstr("does not run (no answer within"));
}

TEST_F(EnvDefinitionProbeTest, InterpreterThatCannotStartIsFailedPrecondition) {
  runyard::fakes::FakeCommandRunner commands;  // NotFound for everything
  absl::StatusOr<EnvironmentDefinition> definition = DefineWith(commands);
  EXPECT_EQ(definition.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(definition.status().message(), HasSubstr("does not run"));
}

TEST_F(EnvDefinitionTest, RequirementIncludesAreFollowed) {
  WriteFile(dir_.path() / "requirements.txt", "requests==2.31.0\n-r other.txt\n");
  WriteFile(dir_.path() / "other.txt", "numpy==1.26.4\n");
  absl::StatusOr<EnvironmentDefinition> definition = Define(PipSpec("requirements.txt"));
  ASSERT_TRUE(definition.ok()) << definition.status();
  EXPECT_THAT(definition->requirements, ElementsAre("numpy==1.26.4", "requests==2.31.0"));
  const std::string key = definition->key;

  WriteFile(dir_.path() / "other.txt", "numpy==2.0.0\n");
  absl::StatusOr<EnvironmentDefinition> changed = Define(PipSpec("requirements.txt"));
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_NE(changed->key, key);
  EXPECT_THAT(changed->requirements, ElementsAre("numpy==2.0.0", "requests==2.31.0"));
}

TEST_F(EnvDefinitionTest, IncludesAreRelativeToTheIncludingFile) {
  WriteFile(dir_.path() / "reqs/main.txt", "--requirement base.txt\nrequests\n");
  WriteFile(dir_.path() / "reqs/base.txt", "-r nested/more.txt\nnumpy\n");
  WriteFile(dir_.path() / "reqs/nested/more.txt", "pandas\n");
  absl::StatusOr<EnvironmentDefinition> definition = Define(PipSpec("reqs/main.txt"));
  ASSERT_TRUE(definition.ok()) << definition.status();
  EXPECT_THAT(definition->requirements, ElementsAre("numpy", "pandas", "requests"));
}

TEST_F(EnvDefinitionTest, IncludeCycleIsRefused) {
  WriteFile(dir_.path() / "a.txt", "-r b.txt\n");
  WriteFile(dir_.path() / "b.txt", "-r a.txt\n");
  absl::StatusOr<EnvironmentDefinition> definition = Define(PipSpec("a.txt"));
  ASSERT_FALSE(definition.ok());
  EXPECT_EQ(definition.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(EnvDefinitionTest, IncludeOutsideTheWorkingDirIsRefused) {
  WriteFile(dir_.path() / "requirements.txt", "-r ../outside.txt\n");
  absl::StatusOr<EnvironmentDefinition> definition = Define(PipSpec("requirements.txt"));
  ASSERT_FALSE(definition.ok());
  EXPECT_EQ(definition.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(definition.status().message(), HasSubstr("../outside.txt"));
}

TEST_F(EnvDefinitionTest, RequirementsPathWithDotDotIsRefused) {
  WriteFile(dir_.path() / "requirements.txt", "requests\n");
  absl::StatusOr<EnvironmentDefinition> definition = Define(PipSpec("sub/../requirements.txt"));
  ASSERT_FALSE(definition.ok());
  EXPECT_EQ(definition.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(definition.status().message(), HasSubstr("sub/../requirements.txt"));
  EXPECT_THAT(definition.status().message(), HasSubstr("relative path"));
}

TEST_F(EnvDefinitionTest, AbsoluteRequirementsPathIsRefused) {
  WriteFile(dir_.path() / "requirements.txt", "requests\n");
  const std::string absolute = (dir_.path() / "requirements.txt").string();
  absl::StatusOr<EnvironmentDefinition> definition = Define(PipSpec(absolute));
  ASSERT_FALSE(definition.ok());
  EXPECT_EQ(definition.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(definition.status().message(), HasSubstr(absolute));
}

TEST_F(EnvDefinitionTest, MissingRequirementsFileIsFailedPreconditionNamingIt) {
  absl::StatusOr<EnvironmentDefinition> definition = Define(PipSpec("missing-requirements.txt"));
  ASSERT_FALSE(definition.ok());
  EXPECT_EQ(definition.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(definition.status().message(), HasSubstr("missing-requirements.txt"));
}

TEST_F(EnvDefinitionTest, MissingIncludedFileIsFailedPreconditionNamingIt) {
  WriteFile(dir_.path() / "requirements.txt", "-r gone.txt\n");
  absl::StatusOr<EnvironmentDefinition> definition = Define(PipSpec("requirements.txt"));
  ASSERT_FALSE(definition.ok());
  EXPECT_EQ(definition.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(definition.status().message(), HasSubstr("gone.txt"));
}

TEST_F(EnvDefinitionTest, PipAndCondaTogetherAreRefused) {
  WriteFile(dir_.path() / "requirements.txt", "requests\n");
  WriteFile(dir_.path() / "environment.yml", "dependencies:\n  - python=3.11\n");
  runyard::v1::RunSpec spec = PipSpec("requirements.txt");
  spec.mutable_environment()->mutable_python()->set_conda_dependencies_file("environment.yml");
  absl::StatusOr<EnvironmentDefinition> definition = Define(spec);
  ASSERT_FALSE(definition.ok());
  EXPECT_EQ(definition.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(definition.status().message(), HasSubstr("not both"));

  runyard::v1::RunSpec packages;
  packages.mutable_environment()->mutable_python()->add_pip_packages("requests");
  packages.mutable_environment()->mutable_python()->set_conda_dependencies_file("environment.yml");
  absl::StatusOr<EnvironmentDefinition> also = Define(packages);
  ASSERT_FALSE(also.ok());
  EXPECT_EQ(also.status().code(), absl::StatusCode::kFailedPrecondition);
}

// ---------------------------------------------------------------------------------------
// DefineEnvironment: conda

TEST_F(EnvDefinitionTest, ConfiguredCondaThatDoesNotExistIsRefusedNamingIt) {
  WriteFile(dir_.path() / "environment.yml", "dependencies:\n  - python=3.11\n");
  absl::StatusOr<EnvironmentDefinition> definition =
      Define(CondaSpec("environment.yml"), {}, "/nonexistent/bin/micromamba");
  ASSERT_FALSE(definition.ok());
  EXPECT_EQ(definition.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(definition.status().message(), HasSubstr("/nonexistent/bin/micromamba"));
}

TEST_F(EnvDefinitionTest, NoCondaConfiguredNorOnPathSaysNoneIsConfigured) {
  WriteFile(dir_.path() / "environment.yml", "dependencies:\n  - python=3.11\n");
  ScopedTempDir empty_bin;
  absl::StatusOr<EnvironmentDefinition> definition =
      Define(CondaSpec("environment.yml"), {}, "", empty_bin.path().string());
  ASSERT_FALSE(definition.ok());
  EXPECT_EQ(definition.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(definition.status().message(), HasSubstr("none is configured"));
}

TEST_F(EnvDefinitionTest, CondaFoundOnPathVar) {
  WriteFile(dir_.path() / "environment.yml",
            "# the env\nname: demo\n\ndependencies:\n  - python=3.11   \n  - numpy\n");
  ScopedTempDir bin;
  WriteExecutable(bin.path() / "micromamba", "#!/bin/sh\nexit 0\n");
  const std::string path_var = "/nonexistent-dir:" + bin.path().string();
  absl::StatusOr<EnvironmentDefinition> definition =
      Define(CondaSpec("environment.yml"), {}, "", path_var);
  ASSERT_TRUE(definition.ok()) << definition.status();
  EXPECT_EQ(definition->kind, EnvironmentKind::kConda);
  EXPECT_EQ(definition->conda_executable, bin.path() / "micromamba");
  EXPECT_EQ(definition->definition_file, dir_.path() / "environment.yml");
  EXPECT_EQ(definition->key.size(), 64u);
  EXPECT_THAT(definition->canonical, HasSubstr("kind: conda"));
  EXPECT_THAT(definition->canonical, HasSubstr("tool: micromamba"));
  EXPECT_THAT(definition->canonical, HasSubstr("yaml:   - python=3.11\n"));

  // Comments and blank lines do not matter; a changed dependency does.
  const std::string key = definition->key;
  WriteFile(dir_.path() / "environment.yml",
            "name: demo\ndependencies:\n  - python=3.11\n  - numpy\n");
  absl::StatusOr<EnvironmentDefinition> same =
      Define(CondaSpec("environment.yml"), {}, "", path_var);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->key, key);
  WriteFile(dir_.path() / "environment.yml",
            "name: demo\ndependencies:\n  - python=3.12\n  - numpy\n");
  absl::StatusOr<EnvironmentDefinition> changed =
      Define(CondaSpec("environment.yml"), {}, "", path_var);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_NE(changed->key, key);
}

TEST_F(EnvDefinitionTest, ConfiguredCondaByNameIsSearchedOnPathVar) {
  WriteFile(dir_.path() / "environment.yml", "dependencies:\n  - python=3.11\n");
  ScopedTempDir bin;
  WriteExecutable(bin.path() / "mamba", "#!/bin/sh\nexit 0\n");
  absl::StatusOr<EnvironmentDefinition> definition =
      Define(CondaSpec("environment.yml"), {}, "mamba", bin.path().string());
  ASSERT_TRUE(definition.ok()) << definition.status();
  EXPECT_EQ(definition->kind, EnvironmentKind::kConda);
  EXPECT_EQ(definition->conda_executable, bin.path() / "mamba");
}

TEST_F(EnvDefinitionTest, MissingCondaFileIsFailedPreconditionNamingIt) {
  ScopedTempDir bin;
  WriteExecutable(bin.path() / "micromamba", "#!/bin/sh\nexit 0\n");
  absl::StatusOr<EnvironmentDefinition> definition =
      Define(CondaSpec("env/missing.yml"), {}, "", bin.path().string());
  ASSERT_FALSE(definition.ok());
  EXPECT_EQ(definition.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(definition.status().message(), HasSubstr("env/missing.yml"));
}

}  // namespace
}  // namespace runyard::runtime
