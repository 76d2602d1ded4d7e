#pragma once

#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/helper_command.h"

namespace runyard::fakes {

// A CommandRunner that starts nothing: it records every command and answers with what the
// test scripted for its program (argv[0]): results in order, the last one repeated. A
// program nobody scripted is NotFound, as a missing one is. Thread-safe.
class FakeCommandRunner final : public common::CommandRunner {
 public:
  // The next answer for `program`.
  void Answer(const std::string& program, absl::StatusOr<common::HelperCommandResult> result) {
    std::lock_guard lock(mutex_);
    answers_[program].push_back(std::move(result));
  }
  // Shorthand: the program exits with `exit_code` after printing `output`.
  void AnswerOutput(const std::string& program, std::string output, int exit_code = 0) {
    common::HelperCommandResult result;
    result.exit_code = exit_code;
    result.output = std::move(output);
    Answer(program, std::move(result));
  }

  absl::StatusOr<common::HelperCommandResult> Run(const common::HelperCommand& command) override {
    std::lock_guard lock(mutex_);
    commands_.push_back(command);
    const std::string program = command.argv.empty() ? "" : command.argv[0];
    auto found = answers_.find(program);
    if (found == answers_.end() || found->second.empty()) {
      return absl::NotFoundError("cannot run " + program + ": not scripted in FakeCommandRunner");
    }
    absl::StatusOr<common::HelperCommandResult> answer = found->second.front();
    if (found->second.size() > 1) found->second.pop_front();
    return answer;
  }

  std::vector<common::HelperCommand> commands() const {
    std::lock_guard lock(mutex_);
    return commands_;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::deque<absl::StatusOr<common::HelperCommandResult>>> answers_;
  std::vector<common::HelperCommand> commands_;
};

}  // namespace runyard::fakes
