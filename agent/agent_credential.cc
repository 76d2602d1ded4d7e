#include "agent/agent_credential.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/private_file.h"
#include "common/read_file.h"

namespace runyard::agent {
namespace fs = std::filesystem;

fs::path AgentTokenFile(const fs::path& work_dir) { return work_dir / "state" / "agent-token"; }

absl::StatusOr<std::string> ReadJoinTokenFile(const fs::path& file,
                                              const std::function<void(const std::string&)>& warn) {
  absl::StatusOr<std::string> text = common::ReadWholeFile(file);
  if (!text.ok()) return absl::InvalidArgumentError("join_token_file: cannot read " + file.string());
  std::string token(absl::StripAsciiWhitespace(*text));
  if (token.empty()) return absl::InvalidArgumentError("join_token_file: " + file.string() + " is empty");
  if (common::ReadableByOthers(file) && warn) {
    warn(absl::StrCat("join_token_file ", file.string(),
                      " can be read by other users, who could enroll agents with it: chmod 600 it"));
  }
  return token;
}

absl::StatusOr<std::string> ReadJoinTokenFd(int fd) {
  std::string text;
  char buffer[4096];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string reason = std::strerror(errno);
      ::close(fd);
      return absl::InvalidArgumentError(absl::StrCat("join_token_fd ", fd, ": cannot read: ", reason));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  std::string token(absl::StripAsciiWhitespace(text));
  if (token.empty()) return absl::InvalidArgumentError(absl::StrCat("join_token_fd ", fd, " gave no token"));
  return token;
}

namespace {

// Next to the agent token: the "pool/name" it was issued for.
fs::path IdentityFile(const fs::path& token_file) {
  fs::path file = token_file;
  file += ".identity";
  return file;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AgentCredential>> AgentCredential::Load(fs::path token_file, std::string join_token,
                                                                        std::string join_origin, std::string identity) {
  std::error_code ec;
  std::string kept_for;
  if (fs::exists(token_file, ec)) {
    absl::StatusOr<std::string> recorded = common::ReadWholeFile(IdentityFile(token_file));
    if (recorded.ok()) kept_for = std::string(absl::StripAsciiWhitespace(*recorded));
  }
  if (!kept_for.empty() && !identity.empty() && kept_for != identity && !join_token.empty()) {
    std::unique_ptr<AgentCredential> joining(new AgentCredential(
        std::move(token_file), std::move(join_token), std::move(join_origin), false, std::move(identity)));
    joining->replaced_identity_ = kept_for;
    return joining;
  }
  if (fs::exists(token_file, ec)) {
    absl::StatusOr<std::string> text = common::ReadWholeFile(token_file);
    std::string token = text.ok() ? std::string(absl::StripAsciiWhitespace(*text)) : "";
    if (token.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the agent token file ", token_file.string(), text.ok() ? " is empty" : " cannot be read",
          ": remove it to enroll the agent again with a join token"));
    }
    const std::string origin = token_file.string();
    return std::unique_ptr<AgentCredential>(
        new AgentCredential(std::move(token_file), std::move(token), origin, true, std::move(identity)));
  }
  return std::unique_ptr<AgentCredential>(new AgentCredential(
      std::move(token_file), std::move(join_token), std::move(join_origin), false, std::move(identity)));
}

AgentCredential::AgentCredential(fs::path token_file, std::string token, std::string origin, bool agent_token,
                                 std::string identity)
    : token_file_(std::move(token_file)),
      identity_(std::move(identity)),
      source_(std::make_shared<common::TokenSource>(std::move(token))),
      origin_(std::move(origin)),
      agent_token_(agent_token) {}

bool AgentCredential::presents_agent_token() const {
  std::lock_guard lock(mutex_);
  return agent_token_;
}

std::string AgentCredential::Describe() const {
  std::lock_guard lock(mutex_);
  if (agent_token_) return "the agent token in " + origin_;
  if (origin_.empty()) return "no token";
  return "the join token from " + origin_;
}

std::string AgentCredential::RemedyWhenRefused() const {
  std::lock_guard lock(mutex_);
  if (agent_token_) {
    return absl::StrCat("this agent's credential is no longer accepted (revoked, expired or from another "
                        "server): to enroll it again remove ",
                        token_file_.string(), " and give it a new join token (join_token_file)");
  }
  if (origin_.empty()) {
    return "the agent has no token: give it the pool's join token (join_token_file or join_token_fd; an admin "
           "makes one with runyard tokens create --join --name NAME)";
  }
  return "ask an admin for a valid join token (runyard tokens create --join --name NAME [--pool POOL])";
}

absl::Status AgentCredential::Adopt(const std::string& agent_token) {
  source_->Set(agent_token);
  {
    std::lock_guard lock(mutex_);
    agent_token_ = true;
    origin_ = token_file_.string();
  }
  if (absl::Status made = common::MakePrivateDirectory(token_file_.parent_path()); !made.ok()) return made;
  if (!identity_.empty()) {
    if (absl::Status noted = common::WritePrivateFile(IdentityFile(token_file_), identity_ + "\n"); !noted.ok()) {
      return noted;
    }
  }
  return common::WritePrivateFile(token_file_, agent_token + "\n");
}

}  // namespace runyard::agent
