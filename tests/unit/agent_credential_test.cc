// Tests for agent/agent_credential.h (the join token from a file or an fd, the agent token
// kept 0600 and read back at the next start) and for the run tokens agent/grpc_links.h
// puts on a run's writes (over a real in-process gRPC server on 127.0.0.1).

#include "agent/agent_credential.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "agent/grpc_links.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/scoped_temp_dir.h"

namespace runyard::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kJoin[] = "ryj_0f9e8d7c6b5a_JJJJJJJJJJJJJJJJJJJJJJJJJJJJJJJJJJJJJJJJJJJ";
constexpr char kAgent[] = "rya_1a2b3c4d5e6f_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

int ModeOf(const fs::path& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return static_cast<int>(info.st_mode & 0777);
}

class AgentCredentialTest : public ::testing::Test {
 protected:
  fs::path token_file() const { return AgentTokenFile(dir_.path() / "work"); }
  testutil::ScopedTempDir dir_;
};

TEST_F(AgentCredentialTest, StartsWithTheJoinTokenWhenNoneIsKept) {
  absl::StatusOr<std::unique_ptr<AgentCredential>> credential =
      AgentCredential::Load(token_file(), kJoin, "/etc/runyard/join-token");
  ASSERT_TRUE(credential.ok()) << credential.status();
  EXPECT_TRUE((*credential)->has_token());
  EXPECT_FALSE((*credential)->presents_agent_token());
  EXPECT_EQ((*credential)->source()->Get(), kJoin);
  EXPECT_EQ((*credential)->Describe(), "the join token from /etc/runyard/join-token");
  EXPECT_THAT((*credential)->RemedyWhenRefused(), HasSubstr("runyard tokens create --join"));
}

// The server binds an agent token to its pool and name: an agent renamed (or moved to
// another pool) on the same work_dir enrolls again with its join token, when it has one.
TEST_F(AgentCredentialTest, AKeptTokenOfAnotherIdentityGivesWayToTheJoinToken) {
  ASSERT_TRUE((*AgentCredential::Load(token_file(), kJoin, "f", "cpu/a"))->Adopt(kAgent).ok());
  EXPECT_TRUE((*AgentCredential::Load(token_file(), kJoin, "f", "cpu/a"))->presents_agent_token())
      << "the same identity keeps its token";

  absl::StatusOr<std::unique_ptr<AgentCredential>> renamed = AgentCredential::Load(token_file(), kJoin, "f", "cpu/b");
  ASSERT_TRUE(renamed.ok()) << renamed.status();
  EXPECT_FALSE((*renamed)->presents_agent_token());
  EXPECT_EQ((*renamed)->source()->Get(), kJoin);
  EXPECT_EQ((*renamed)->replaced_identity(), "cpu/a");

  // Without a join token the kept one is presented (the server says whether it still fits).
  absl::StatusOr<std::unique_ptr<AgentCredential>> alone = AgentCredential::Load(token_file(), "", "", "cpu/b");
  ASSERT_TRUE(alone.ok()) << alone.status();
  EXPECT_TRUE((*alone)->presents_agent_token());
  EXPECT_EQ((*alone)->replaced_identity(), "");
}

TEST_F(AgentCredentialTest, AdoptedAgentTokenIsKeptPrivateAndUsedAtTheNextStart) {
  absl::StatusOr<std::unique_ptr<AgentCredential>> first = AgentCredential::Load(token_file(), kJoin, "f");
  ASSERT_TRUE(first.ok());
  std::shared_ptr<common::TokenSource> source = (*first)->source();
  ASSERT_TRUE((*first)->Adopt(kAgent).ok());
  EXPECT_EQ(source->Get(), kAgent) << "the channel's token switches at once";
  EXPECT_TRUE((*first)->presents_agent_token());
  EXPECT_EQ(ModeOf(token_file()), 0600);
  EXPECT_EQ(ModeOf(token_file().parent_path()), 0700);
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(token_file().parent_path())) ++entries;
  EXPECT_EQ(entries, 1) << "no temporary file is left (and no identity file when none is given)";

  // The next start presents the kept token, whatever join token it is given.
  absl::StatusOr<std::unique_ptr<AgentCredential>> next = AgentCredential::Load(token_file(), kJoin, "f");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE((*next)->presents_agent_token());
  EXPECT_EQ((*next)->source()->Get(), kAgent);
  EXPECT_EQ((*next)->Describe(), "the agent token in " + token_file().string());
  EXPECT_THAT((*next)->RemedyWhenRefused(), HasSubstr("remove " + token_file().string()));

  // A second registration's token replaces the kept one.
  const std::string renewed = std::string(kAgent) + "X";
  ASSERT_TRUE((*next)->Adopt(renewed).ok());
  EXPECT_EQ((*AgentCredential::Load(token_file(), "", ""))->source()->Get(), renewed);
}

TEST_F(AgentCredentialTest, EmptyKeptTokenIsAnErrorNamingTheFile) {
  fs::create_directories(token_file().parent_path());
  std::ofstream(token_file()) << "\n";
  absl::StatusOr<std::unique_ptr<AgentCredential>> credential = AgentCredential::Load(token_file(), kJoin, "f");
  ASSERT_FALSE(credential.ok());
  EXPECT_THAT(std::string(credential.status().message()), HasSubstr(token_file().string()));
}

TEST_F(AgentCredentialTest, NoTokenAtAll) {
  absl::StatusOr<std::unique_ptr<AgentCredential>> credential = AgentCredential::Load(token_file(), "", "");
  ASSERT_TRUE(credential.ok());
  EXPECT_FALSE((*credential)->has_token());
  EXPECT_THAT((*credential)->RemedyWhenRefused(), HasSubstr("join_token_file"));
}

TEST_F(AgentCredentialTest, JoinTokenFromAnFdIsReadOnceAndTheFdClosed) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const std::string text = std::string(kJoin) + "\n";
  ASSERT_EQ(::write(pipe_fds[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(pipe_fds[1]);
  absl::StatusOr<std::string> token = ReadJoinTokenFd(pipe_fds[0]);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, kJoin);
  errno = 0;
  EXPECT_EQ(::fcntl(pipe_fds[0], F_GETFD), -1);
  EXPECT_EQ(errno, EBADF) << "the descriptor is closed";
}

TEST_F(AgentCredentialTest, EmptyFdIsAnError) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  ::close(pipe_fds[1]);
  absl::StatusOr<std::string> token = ReadJoinTokenFd(pipe_fds[0]);
  EXPECT_FALSE(token.ok());
  EXPECT_THAT(std::string(token.status().message()), HasSubstr("join_token_fd"));
}

TEST_F(AgentCredentialTest, JoinTokenFileReadableByOthersIsWarnedAbout) {
  const fs::path file = dir_.path() / "join-token";
  std::ofstream(file) << "  " << kJoin << "\n";
  std::vector<std::string> warnings;
  auto warn = [&](const std::string& line) { warnings.push_back(line); };
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
  ASSERT_EQ(ReadJoinTokenFile(file, warn).value_or(""), kJoin);
  EXPECT_THAT(warnings, IsEmpty());
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                            fs::perms::others_read);
  ASSERT_EQ(ReadJoinTokenFile(file, warn).value_or(""), kJoin) << "allowed, with a warning";
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr(file.string()));
  EXPECT_THAT(warnings[0], HasSubstr("chmod 600"));
  EXPECT_FALSE(ReadJoinTokenFile(dir_.path() / "missing", warn).ok());
}

// An Agents service that records the authorization each call came with, and hands out one
// assignment with a run token on the first poll.
class RecordingAgents final : public runyard::v1::Agents::Service {
 public:
  grpc::Status Poll(grpc::ServerContext* context, const runyard::v1::PollRequest*,
                    runyard::v1::PollResponse* response) override {
    Record("Poll", context);
    runyard::v1::Assignment* assignment = response->add_assignments();
    assignment->mutable_lease()->set_run_id("run-1");
    assignment->set_run_token("ryr_run1");
    return grpc::Status::OK;
  }
  grpc::Status UpdateStatus(grpc::ServerContext* context, const runyard::v1::UpdateStatusRequest* request,
                            runyard::v1::UpdateStatusResponse*) override {
    Record("UpdateStatus " + request->lease().run_id(), context);
    return grpc::Status::OK;
  }
  grpc::Status Append(grpc::ServerContext* context, const runyard::v1::AppendRequest* request,
                      runyard::v1::AppendResponse*) override {
    Record("Append " + request->lease().run_id(), context);
    return grpc::Status::OK;
  }
  grpc::Status Report(grpc::ServerContext* context, const runyard::v1::ReportRequest* request,
                      runyard::v1::ReportResponse* response) override {
    Record("Report " + request->items(0).append().lease().run_id(), context);
    response->set_applied(request->items_size());
    return grpc::Status::OK;
  }

  std::vector<std::string> calls() {
    std::lock_guard lock(mutex_);
    return calls_;
  }

 private:
  void Record(const std::string& call, grpc::ServerContext* context) {
    std::string authorization;
    for (const auto& [key, value] : context->client_metadata()) {
      if (key == "authorization") authorization += std::string(value.data(), value.size()) + ";";
    }
    std::lock_guard lock(mutex_);
    calls_.push_back(call + " " + authorization);
  }

  std::mutex mutex_;
  std::vector<std::string> calls_;
};

TEST(AgentRunTokenTest, ARunsWritesCarryItsOwnTokenOthersTheAgentToken) {
  RecordingAgents service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  common::ChannelOptions options;
  options.address = "127.0.0.1:" + std::to_string(port);
  options.insecure_plaintext = true;
  options.token = std::make_shared<common::TokenSource>(kAgent);
  GrpcControlPlaneLink link(common::ServerChannel(options), options);

  runyard::v1::PollRequest poll;
  poll.set_wait_ms(0);
  ASSERT_TRUE(link.StartPoll(poll)->Wait().ok());
  runyard::v1::UpdateStatusRequest status;
  status.mutable_lease()->set_run_id("run-1");
  ASSERT_TRUE(link.reporter().UpdateStatus(status).ok());
  runyard::v1::AppendRequest append;
  append.mutable_lease()->set_run_id("run-2");  // no token of its own (an earlier process's run)
  ASSERT_TRUE(link.reporter().Append(append).ok());
  runyard::v1::ReportRequest report;
  report.add_items()->mutable_append()->mutable_lease()->set_run_id("run-1");
  ASSERT_TRUE(link.reporter().Report(report).ok());
  link.RunEnded("run-1");
  ASSERT_TRUE(link.reporter().UpdateStatus(status).ok());
  server->Shutdown();

  const std::string agent = std::string("Bearer ") + kAgent + ";";
  EXPECT_THAT(service.calls(), ElementsAre("Poll " + agent, "UpdateStatus run-1 Bearer ryr_run1;",
                                           "Append run-2 " + agent, "Report run-1 Bearer ryr_run1;",
                                           "UpdateStatus run-1 " + agent));
}

}  // namespace
}  // namespace runyard::agent
