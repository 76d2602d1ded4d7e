#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "common/grpc_channel.h"

namespace runyard::agent {

// Where the agent keeps the token the server issued it at registration.
std::filesystem::path AgentTokenFile(const std::filesystem::path& work_dir);

// The join token in `file` (whitespace dropped). `warn` is told when users other than the
// owner may read the file: allowed, but the token lets anyone enroll agents.
absl::StatusOr<std::string> ReadJoinTokenFile(const std::filesystem::path& file,
                                              const std::function<void(const std::string&)>& warn);
// The join token an inherited descriptor carries (a pipe, a memfd, a file), read to its
// end, then the descriptor is closed so no run inherits it.
absl::StatusOr<std::string> ReadJoinTokenFd(int fd);

// What the agent presents to the server: its own agent token once it has one (kept across
// restarts), the pool's join token until then. The token source is shared with the
// channel, so a switch applies to the calls that follow. Thread-safe.
class AgentCredential {
 public:
  // The agent token kept in `token_file` when there is one (an unreadable or empty file is
  // an error naming it), else `join_token` as read from `join_origin` ("" when none).
  // `identity` is the pool and name the agent is configured with ("pool/name"): an agent
  // token kept for another identity (the agent was renamed or moved to another pool) is
  // left for the join token when there is one, since the server binds agent tokens to
  // their pool and name.
  static absl::StatusOr<std::unique_ptr<AgentCredential>> Load(std::filesystem::path token_file,
                                                               std::string join_token, std::string join_origin,
                                                               std::string identity = "");

  const std::shared_ptr<common::TokenSource>& source() const { return source_; }
  bool has_token() const { return !source_->Get().empty(); }
  bool presents_agent_token() const;
  // "the agent token in /w/state/agent-token", "the join token from /etc/runyard/join-token".
  std::string Describe() const;
  // What to do when the server refuses the credential.
  std::string RemedyWhenRefused() const;

  // Keeps the agent token the server issued: written to the token file (0600, folder 0700,
  // atomically), then presented from the next call on. It is presented even when it cannot
  // be written (the error says so; the next start needs the join token again).
  absl::Status Adopt(const std::string& agent_token);

  // Set when Load left a kept agent token of another identity for the join token: what it
  // was for ("pool/name"), to be logged.
  const std::string& replaced_identity() const { return replaced_identity_; }

 private:
  AgentCredential(std::filesystem::path token_file, std::string token, std::string origin, bool agent_token,
                  std::string identity);

  const std::filesystem::path token_file_;
  const std::string identity_;  // written next to the token by Adopt
  std::string replaced_identity_;
  std::shared_ptr<common::TokenSource> source_;
  mutable std::mutex mutex_;
  std::string origin_;         // guarded by mutex_
  bool agent_token_ = false;   // guarded by mutex_
};

}  // namespace runyard::agent
