// Tests for runtime/env_builder.h: PrepareEnvironment builds real venvs from
// /usr/bin/python3, offline (no_index, a local wheelhouse made by the test). Each real
// build takes seconds, so only a few tests build; the others fail or stop early.

#include "runtime/env_builder.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <vector>

#include "common/helper_command.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/recording_observer.h"
#include "runtime/observer.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::runtime {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr char kPython[] = "/usr/bin/python3";

using ::runyard::testutil::ScopedTempDir;

void WriteFile(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << file;
}

std::string ReadFile(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A pure-Python wheel, tinypkg 1.0, written with the base interpreter's zipfile.
void WriteWheel(const fs::path& wheelhouse) {
  fs::create_directories(wheelhouse);
  const std::string script = R"PY(
import base64, hashlib, sys, zipfile
files = {
    "tinypkg/__init__.py": "VALUE = 42\n",
    "tinypkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n",
    "tinypkg-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
for name, text in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
    record.append("%s,sha256=%s,%d" % (name, digest, len(text.encode())))
record.append("tinypkg-1.0.dist-info/RECORD,,")
files["tinypkg-1.0.dist-info/RECORD"] = "\n".join(record) + "\n"
with zipfile.ZipFile(sys.argv[1] + "/tinypkg-1.0-py3-none-any.whl", "w") as wheel:
    for name, text in files.items():
        wheel.writestr(name, text)
)PY";
  common::HelperCommand make_wheel;
  make_wheel.argv = {kPython, "-c", script, wheelhouse.string()};
  make_wheel.merge_stderr = true;
  absl::StatusOr<common::HelperCommandResult> result = common::RunHelperCommand(make_wheel);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->exit_code, 0) << result->output;
  ASSERT_TRUE(fs::is_regular_file(wheelhouse / "tinypkg-1.0-py3-none-any.whl"));
}

class EnvBuilderTest : public testing::Test {
 protected:
  EnvBuilderTest()
      : cache_(dir_.path() / "envs", 0),
        log_file_(dir_.path() / "environment.txt"),
        log_(log_file_, "system_logs/environment.txt", &observer_) {
    fs::create_directories(dir_.path() / "src");
    settings_.default_base_python = kPython;
    settings_.pip.no_index = true;
    settings_.pip.find_links = {(dir_.path() / "wheelhouse").string()};
    settings_.setup_timeout = std::chrono::seconds(300);
  }

  fs::path working_dir() const { return dir_.path() / "src"; }

  absl::StatusOr<PreparedEnvironment> Prepare(const runyard::v1::RunSpec& spec) {
    return PrepareEnvironment(spec, working_dir(), cache_, settings_, cancel_, log_);
  }

  static runyard::v1::RunSpec PackagesSpec(const std::vector<std::string>& packages) {
    runyard::v1::RunSpec spec;
    spec.set_script("train.py");
    for (const auto& package : packages)
      spec.mutable_environment()->mutable_python()->add_pip_packages(package);
    return spec;
  }

  // A pip environment with nothing to install: a venv, then pip freeze.
  runyard::v1::RunSpec EmptyRequirementsSpec() {
    WriteFile(working_dir() / "requirements.txt", "# nothing to install yet\n\n");
    runyard::v1::RunSpec spec;
    spec.set_script("train.py");
    spec.mutable_environment()->mutable_python()->set_pip_requirements_file("requirements.txt");
    return spec;
  }

  std::vector<fs::path> StoreFolders() {
    std::vector<fs::path> folders;
    std::error_code ec;
    for (const auto& item : fs::directory_iterator(cache_.root() / "store", ec))
      folders.push_back(item.path());
    return folders;
  }

  std::string Log() { return ReadFile(log_file_); }

  ScopedTempDir dir_;
  EnvironmentCache cache_;
  fs::path log_file_;
  fakes::RecordingObserver observer_;  // the builder reports nothing these tests read
  RunLog log_;
  EnvironmentSettings settings_;
  CancelToken cancel_;
};

TEST_F(EnvBuilderTest, UserManagedNeedsNothing) {
  runyard::v1::RunSpec spec;
  spec.set_script("train.py");
  spec.mutable_environment()->mutable_python()->set_user_managed_dependencies(true);
  spec.mutable_environment()->mutable_python()->add_pip_packages("ignored");
  absl::StatusOr<PreparedEnvironment> prepared = Prepare(spec);
  ASSERT_TRUE(prepared.ok()) << prepared.status();
  EXPECT_EQ(prepared->kind, EnvironmentKind::kUserManaged);
  EXPECT_TRUE(prepared->interpreter.empty());
  EXPECT_THAT(prepared->key, IsEmpty());
  EXPECT_THAT(prepared->variables, IsEmpty());
  EXPECT_FALSE(prepared->reused);
  EXPECT_EQ(prepared->in_use, nullptr);
  EXPECT_FALSE(fs::exists(cache_.root() / "store"));

  runyard::v1::RunSpec plain;
  plain.set_script("train.py");
  absl::StatusOr<PreparedEnvironment> also = Prepare(plain);
  ASSERT_TRUE(also.ok()) << also.status();
  EXPECT_EQ(also->kind, EnvironmentKind::kUserManaged);
  EXPECT_TRUE(also->interpreter.empty());
}

TEST_F(EnvBuilderTest, DefinitionErrorsComeBackAsFailedPrecondition) {
  runyard::v1::RunSpec spec;
  spec.mutable_environment()->mutable_python()->set_pip_requirements_file("missing.txt");
  absl::StatusOr<PreparedEnvironment> prepared = Prepare(spec);
  ASSERT_FALSE(prepared.ok());
  EXPECT_EQ(prepared.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(prepared.status().message(), HasSubstr("missing.txt"));
  EXPECT_FALSE(fs::exists(cache_.root() / "store"));
}

TEST_F(EnvBuilderTest, BuildsFromALocalWheelhouseThenReuses) {
  WriteWheel(dir_.path() / "wheelhouse");
  const runyard::v1::RunSpec spec = PackagesSpec({"tinypkg==1.0"});

  absl::StatusOr<PreparedEnvironment> built = Prepare(spec);
  ASSERT_TRUE(built.ok()) << built.status() << "\n" << Log();
  EXPECT_EQ(built->kind, EnvironmentKind::kPip);
  EXPECT_FALSE(built->reused);
  EXPECT_EQ(built->key.size(), 64u);
  EXPECT_THAT(Log(), HasSubstr("building it in"));
  ASSERT_FALSE(built->interpreter.empty());
  EXPECT_TRUE(fs::exists(built->interpreter));
  EXPECT_EQ(::access(built->interpreter.c_str(), X_OK), 0) << built->interpreter;
  EXPECT_THAT(built->packages, HasSubstr("pip=="));
  EXPECT_THAT(built->packages, HasSubstr("tinypkg==1.0"));
  const fs::path env = built->interpreter.parent_path().parent_path();
  EXPECT_EQ(built->variables["VIRTUAL_ENV"], env.string());
  EXPECT_EQ(built->variables["PATH"].rfind((env / "bin").string() + ":", 0), 0u)
      << built->variables["PATH"];
  ASSERT_NE(built->in_use, nullptr);

  // The package really is installed in it.
  common::HelperCommand import_it;
  import_it.argv = {built->interpreter.string(), "-c", "import tinypkg; print(tinypkg.VALUE)"};
  import_it.merge_stderr = true;
  absl::StatusOr<common::HelperCommandResult> run = common::RunHelperCommand(import_it);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 0) << run->output;
  EXPECT_EQ(run->output, "42\n");

  // Published, and marked in use while the run holds it.
  std::vector<EnvironmentCache::Entry> entries = cache_.List();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].key, built->key);
  EXPECT_TRUE(entries[0].in_use);
  EXPECT_GT(entries[0].size, 0);
  EXPECT_EQ(entries[0].summary, "pip");

  // The same definition again: reused, not rebuilt.
  absl::StatusOr<PreparedEnvironment> again = Prepare(spec);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->reused);
  EXPECT_EQ(again->key, built->key);
  EXPECT_EQ(again->interpreter, built->interpreter);
  EXPECT_EQ(again->packages, built->packages);
  EXPECT_THAT(Log(), HasSubstr("reusing"));
  EXPECT_EQ(StoreFolders().size(), 1u);

  // While runs hold it, pruning keeps it; once they are gone it may go.
  EXPECT_EQ(cache_.PruneUnused(), 0);
  EXPECT_TRUE(fs::exists(built->interpreter));
  built->in_use.reset();
  again->in_use.reset();
  EXPECT_GT(cache_.PruneUnused(), 0);
  EXPECT_THAT(cache_.List(), IsEmpty());
}

TEST_F(EnvBuilderTest, ConcurrentRunsBuildOnce) {
  const runyard::v1::RunSpec spec = EmptyRequirementsSpec();
  auto prepare = [&] {
    CancelToken cancel;
    return PrepareEnvironment(spec, working_dir(), cache_, settings_, cancel, log_);
  };
  std::future<absl::StatusOr<PreparedEnvironment>> first = std::async(std::launch::async, prepare);
  std::future<absl::StatusOr<PreparedEnvironment>> second = std::async(std::launch::async, prepare);
  absl::StatusOr<PreparedEnvironment> a = first.get();
  absl::StatusOr<PreparedEnvironment> b = second.get();
  ASSERT_TRUE(a.ok()) << a.status() << "\n" << Log();
  ASSERT_TRUE(b.ok()) << b.status() << "\n" << Log();
  EXPECT_NE(a->reused, b->reused) << "exactly one of them builds";
  EXPECT_EQ(a->interpreter, b->interpreter);
  EXPECT_TRUE(fs::exists(a->interpreter));
  EXPECT_THAT(a->packages, HasSubstr("pip=="));
  EXPECT_EQ(StoreFolders().size(), 1u);
  EXPECT_EQ(cache_.List().size(), 1u);
}

TEST_F(EnvBuilderTest, BrokenRequirementFailsWithPipsErrorAndLeavesNothing) {
  WriteWheel(dir_.path() / "wheelhouse");
  absl::StatusOr<PreparedEnvironment> prepared = Prepare(PackagesSpec({"doesnotexist==9.9"}));
  ASSERT_FALSE(prepared.ok());
  EXPECT_EQ(prepared.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(prepared.status().message(), HasSubstr("pip install"));
  EXPECT_THAT(prepared.status().message(), HasSubstr("doesnotexist==9.9"));
  EXPECT_THAT(prepared.status().message(), HasSubstr("No matching distribution"));
  EXPECT_THAT(StoreFolders(), IsEmpty());
  EXPECT_THAT(cache_.List(), IsEmpty());
}

TEST_F(EnvBuilderTest, SetupTimeoutStopsTheBuild) {
  settings_.setup_timeout = std::chrono::seconds(1);  // creating a venv takes seconds
  const auto started = std::chrono::steady_clock::now();
  absl::StatusOr<PreparedEnvironment> prepared = Prepare(EmptyRequirementsSpec());
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(prepared.ok()) << "the venv was built within 1 s; the test needs a slower build";
  EXPECT_EQ(prepared.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(prepared.status().message(), HasSubstr("environment setup timeout (1 s)"));
  EXPECT_LT(took, std::chrono::seconds(10));
  EXPECT_THAT(StoreFolders(), IsEmpty());
  EXPECT_THAT(cache_.List(), IsEmpty());
}

TEST_F(EnvBuilderTest, CancelRequestedBeforeIsCancelled) {
  cancel_.RequestCancel();
  absl::StatusOr<PreparedEnvironment> prepared = Prepare(EmptyRequirementsSpec());
  ASSERT_FALSE(prepared.ok());
  EXPECT_EQ(prepared.status().code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(StoreFolders(), IsEmpty());
  EXPECT_THAT(cache_.List(), IsEmpty());
}

TEST_F(EnvBuilderTest, CancelWhileWaitingForAnotherBuildIsCancelled) {
  const runyard::v1::RunSpec spec = EmptyRequirementsSpec();
  absl::StatusOr<EnvironmentDefinition> definition =
      DefineEnvironment(spec, working_dir(), kPython, settings_.pip, "", "/usr/bin:/bin");
  ASSERT_TRUE(definition.ok()) << definition.status();
  // Another run holds the build lock of this definition.
  CancelToken other;
  absl::StatusOr<std::unique_ptr<EnvironmentCache::Lock>> building =
      cache_.LockForBuild(definition->key, other, {});
  ASSERT_TRUE(building.ok()) << building.status();

  std::future<absl::StatusOr<PreparedEnvironment>> waiting =
      std::async(std::launch::async, [&] { return Prepare(spec); });
  // Wait (event-driven, via the log) until it says it waits, then cancel.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (Log().find("another run is building this environment") == std::string::npos &&
         std::chrono::steady_clock::now() < give_up) {
    ASSERT_NE(waiting.wait_for(std::chrono::milliseconds(20)), std::future_status::ready) << Log();
  }
  ASSERT_THAT(Log(), HasSubstr("another run is building this environment"));
  cancel_.RequestCancel();
  ASSERT_EQ(waiting.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  absl::StatusOr<PreparedEnvironment> prepared = waiting.get();
  ASSERT_FALSE(prepared.ok());
  EXPECT_EQ(prepared.status().code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(StoreFolders(), IsEmpty());
}

}  // namespace
}  // namespace runyard::runtime
