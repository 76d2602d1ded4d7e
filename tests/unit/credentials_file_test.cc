// Tests for the CLI's credentials: cli/credentials_file.h (the file runyard login writes:
// 0600 in a 0700 folder, atomic, a malformed one named in the error without its token),
// cli/server_connection.h (flags over the environment over the file, whose token goes only
// to its own server) and common/private_file.h.

#include "cli/credentials_file.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>

#include "cli/server_connection.h"
#include "common/private_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "ryu_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

int ModeOf(const fs::path& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return static_cast<int>(info.st_mode & 0777);
}

void WriteText(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
}

EnvironmentLookup FakeEnvironment(std::map<std::string, std::string> variables) {
  return [variables = std::move(variables)](const char* name) -> std::optional<std::string> {
    auto it = variables.find(name);
    if (it == variables.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };
}

class CredentialsFileTest : public ::testing::Test {
 protected:
  fs::path file() const { return dir_.path() / "config" / "runyard" / "credentials"; }
  Credentials Saved() const {
    Credentials credentials;
    credentials.server = "runyard.example:7878";
    credentials.token = kToken;
    credentials.ca_file = "/etc/runyard/ca.pem";
    return credentials;
  }

  testutil::ScopedTempDir dir_;
};

TEST_F(CredentialsFileTest, WrittenPrivateAndReadBack) {
  ASSERT_TRUE(WriteCredentials(file(), Saved()).ok());
  EXPECT_EQ(ModeOf(file()), 0600);
  EXPECT_EQ(ModeOf(file().parent_path()), 0700);
  absl::StatusOr<std::optional<Credentials>> read = ReadCredentials(file());
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_TRUE(read->has_value());
  EXPECT_EQ((*read)->server, "runyard.example:7878");
  EXPECT_EQ((*read)->token, kToken);
  EXPECT_EQ((*read)->ca_file, "/etc/runyard/ca.pem");
  EXPECT_FALSE((*read)->insecure);
}

TEST_F(CredentialsFileTest, RewriteLeavesNoTemporaryFileAndTightensTheFolder) {
  fs::create_directories(file().parent_path());
  fs::permissions(file().parent_path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read);
  ASSERT_TRUE(WriteCredentials(file(), Saved()).ok());
  Credentials second = Saved();
  second.insecure = true;
  ASSERT_TRUE(WriteCredentials(file(), second).ok());
  EXPECT_EQ(ModeOf(file().parent_path()), 0700);
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(file().parent_path())) ++entries;
  EXPECT_EQ(entries, 1);
  absl::StatusOr<std::optional<Credentials>> read = ReadCredentials(file());
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_TRUE((*read)->insecure);
}

TEST_F(CredentialsFileTest, MissingFileIsNoCredentials) {
  absl::StatusOr<std::optional<Credentials>> read = ReadCredentials(file());
  ASSERT_TRUE(read.ok());
  EXPECT_FALSE(read->has_value());
}

TEST_F(CredentialsFileTest, MalformedFileIsAnErrorNamingTheFileButNotItsToken) {
  for (const std::string& text :
       {std::string("server: [unclosed\ntoken: ") + kToken + "\n", std::string("just text ") + kToken + "\n",
        std::string("server: a:1\ntoken: ") + kToken + "\ncolour: blue\n", std::string("server: a:1\n"),
        std::string("token: ") + kToken + "\n", std::string("server: a:1\ntoken: ") + kToken + "\ninsecure: maybe\n"}) {
    SCOPED_TRACE(text);
    WriteText(file(), text);
    absl::StatusOr<std::optional<Credentials>> read = ReadCredentials(file());
    ASSERT_FALSE(read.ok());
    EXPECT_TRUE(absl::IsInvalidArgument(read.status()));
    EXPECT_THAT(std::string(read.status().message()), HasSubstr(file().string()));
    EXPECT_THAT(std::string(read.status().message()), Not(HasSubstr(kToken)));
  }
}

TEST_F(CredentialsFileTest, RemoveSaysWhetherThereWasOne) {
  ASSERT_TRUE(WriteCredentials(file(), Saved()).ok());
  EXPECT_EQ(RemoveCredentials(file()).value_or(false), true);
  EXPECT_EQ(RemoveCredentials(file()).value_or(true), false);
}

TEST_F(CredentialsFileTest, PrivateFileRefusesToReplaceWhenAsked) {
  const fs::path token = dir_.path() / "join-token";
  ASSERT_TRUE(common::WritePrivateFile(token, "first\n", /*overwrite=*/false).ok());
  EXPECT_EQ(ModeOf(token), 0600);
  absl::Status again = common::WritePrivateFile(token, "second\n", /*overwrite=*/false);
  EXPECT_TRUE(absl::IsAlreadyExists(again)) << again;
  EXPECT_THAT(std::string(again.message()), HasSubstr(token.string()));
  std::ifstream in(token);
  std::string kept;
  std::getline(in, kept);
  EXPECT_EQ(kept, "first");
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir_.path())) ++entries;
  EXPECT_EQ(entries, 1) << "a temporary file was left behind";
}

class ServerConnectionTest : public CredentialsFileTest {
 protected:
  void SetUp() override { ASSERT_TRUE(WriteCredentials(file(), Saved()).ok()); }
};

TEST_F(ServerConnectionTest, TheFileAloneGivesServerTokenAndCa) {
  const ServerConnection connection = ResolveConnection({}, FakeEnvironment({}), file());
  EXPECT_TRUE(connection.problem.ok());
  EXPECT_EQ(connection.server, "runyard.example:7878");
  EXPECT_EQ(connection.token, kToken);
  EXPECT_EQ(connection.token_origin, file().string());
  EXPECT_EQ(connection.ca_file, "/etc/runyard/ca.pem");
  EXPECT_FALSE(connection.insecure);
}

TEST_F(ServerConnectionTest, EnvironmentOverTheFile) {
  const ServerConnection connection = ResolveConnection(
      {}, FakeEnvironment({{"RUNYARD_TOKEN", "ryu_env"}, {"RUNYARD_CA_FILE", "/env/ca.pem"}, {"RUNYARD_INSECURE", "1"}}),
      file());
  EXPECT_EQ(connection.server, "runyard.example:7878");
  EXPECT_EQ(connection.token, "ryu_env");
  EXPECT_EQ(connection.token_origin, "RUNYARD_TOKEN");
  EXPECT_EQ(connection.ca_file, "/env/ca.pem");
  EXPECT_TRUE(connection.insecure);
}

TEST_F(ServerConnectionTest, EmptyVariablesAreUnset) {
  const ServerConnection connection =
      ResolveConnection({}, FakeEnvironment({{"RUNYARD_TOKEN", ""}, {"RUNYARD_SERVER", ""}}), file());
  EXPECT_EQ(connection.server, "runyard.example:7878");
  EXPECT_EQ(connection.token, kToken);
}

TEST_F(ServerConnectionTest, FlagsOverTheEnvironment) {
  const fs::path token_file = dir_.path() / "token";
  WriteText(token_file, "  ryu_from_file \n");
  ConnectionFlags flags;
  flags.server = "runyard.example:7878";
  flags.token_file = token_file.string();
  flags.ca_file = "/flag/ca.pem";
  flags.insecure = true;
  const ServerConnection connection = ResolveConnection(
      flags,
      FakeEnvironment({{"RUNYARD_SERVER", "other:1"}, {"RUNYARD_TOKEN", "ryu_env"}, {"RUNYARD_CA_FILE", "/env/ca.pem"}}),
      file());
  EXPECT_EQ(connection.server, "runyard.example:7878");
  EXPECT_EQ(connection.token, "ryu_from_file");
  EXPECT_EQ(connection.token_origin, "--token-file " + token_file.string());
  EXPECT_EQ(connection.ca_file, "/flag/ca.pem");
  EXPECT_TRUE(connection.insecure);
}

TEST_F(ServerConnectionTest, TheFilesTokenGoesOnlyToItsServer) {
  ConnectionFlags flags;
  flags.server = "elsewhere:7878";
  const ServerConnection connection = ResolveConnection(flags, FakeEnvironment({}), file());
  EXPECT_EQ(connection.server, "elsewhere:7878");
  EXPECT_EQ(connection.token, "");
  EXPECT_EQ(connection.ca_file, "");
}

TEST_F(ServerConnectionTest, UnreadableTokenFileIsTheConnectionsProblem) {
  ConnectionFlags flags;
  flags.token_file = (dir_.path() / "missing").string();
  const ServerConnection connection = ResolveConnection(flags, FakeEnvironment({}), file());
  EXPECT_TRUE(absl::IsInvalidArgument(connection.problem));
  EXPECT_THAT(std::string(connection.problem.message()), HasSubstr("missing"));
}

TEST_F(ServerConnectionTest, MalformedFileMattersOnlyWhenNeeded) {
  WriteText(file(), "{{{");
  const ServerConnection needed = ResolveConnection({}, FakeEnvironment({}), file());
  EXPECT_THAT(std::string(needed.problem.message()), HasSubstr(file().string()));
  const ServerConnection not_needed = ResolveConnection(
      {}, FakeEnvironment({{"RUNYARD_SERVER", "a:1"}, {"RUNYARD_TOKEN", "ryu_env"}}), file());
  EXPECT_TRUE(not_needed.problem.ok()) << not_needed.problem;
  EXPECT_EQ(not_needed.token, "ryu_env");
}

TEST(ServerConnectionChannelTest, ChannelOptionsCarryTheToken) {
  ServerConnection connection;
  connection.server = "a:1";
  connection.token = kToken;
  connection.ca_file = "/ca.pem";
  const common::ChannelOptions options = ChannelOptionsOf(connection);
  EXPECT_EQ(options.address, "a:1");
  EXPECT_EQ(options.ca_file, "/ca.pem");
  EXPECT_FALSE(options.insecure_plaintext);
  ASSERT_NE(options.token, nullptr);
  EXPECT_EQ(options.token->Get(), kToken);
}

}  // namespace
}  // namespace runyard::cli
