#include "sandbox/bubblewrap_sandbox.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace runyard::sandbox {
namespace fs = std::filesystem;
namespace {

// How much of the run's last output is kept to explain a failed sandbox setup.
constexpr size_t kSetupErrorTail = 8192;

// The last `bytes` of `file` ("" when it cannot be read).
std::string ReadTail(const fs::path& file, size_t bytes) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  if (!in) return "";
  const std::streamoff size = in.tellg();
  const std::streamoff from =
      std::max<std::streamoff>(0, size - static_cast<std::streamoff>(bytes));
  in.seekg(from);
  std::string tail(static_cast<size_t>(size - from), '\0');
  in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  tail.resize(static_cast<size_t>(in.gcount()));
  return tail;
}

// One bwrap process: its command line and the status pipe it reports on.
class BubblewrapLaunch final : public SandboxedLaunch {
 public:
  BubblewrapLaunch(ExecLine exec, int status_read)
      : exec_(std::move(exec)), status_read_(status_read) {}
  ~BubblewrapLaunch() override {
    if (status_read_ >= 0) ::close(status_read_);
    if (exec_.inherit_fd >= 0) ::close(exec_.inherit_fd);
  }
  BubblewrapLaunch(const BubblewrapLaunch&) = delete;
  BubblewrapLaunch& operator=(const BubblewrapLaunch&) = delete;

  const ExecLine& exec() const override { return exec_; }

  void Spawned() override {
    ::close(exec_.inherit_fd);  // bwrap holds the only write end now
    exec_.inherit_fd = -1;
  }

  // bwrap's own process is spared: its death would SIGKILL the sandbox at once, cutting
  // the script's grace period short.
  pid_t SparedFromTerm(pid_t first_process) const override { return first_process; }

  void SawOutput(std::string_view bytes) override {
    output_tail_.append(bytes);
    if (output_tail_.size() > kSetupErrorTail)
      output_tail_.erase(0, output_tail_.size() - kSetupErrorTail);
  }

  // bwrap reports the script's exit code on its status fd; without one the script never
  // ran (a mount or the exec failed), the exit code is bwrap's own, and the "bwrap: ..."
  // lines of the output say why.
  std::string SetupError(const ProcessEnd& end, const fs::path& output_file) override {
    std::string text;
    char chunk[4096];
    ::fcntl(status_read_, F_SETFL, O_NONBLOCK);  // a sandboxed orphan may still hold it
    for (ssize_t n; (n = ::read(status_read_, chunk, sizeof(chunk))) > 0;) text.append(chunk, n);
    if (ParseBubblewrapStatus(text).exit_code) return "";
    if (end.killed) return "";  // killed while bwrap was still setting up
    // Output-file mode: bwrap's words are at the end of the file.
    const std::string tail =
        output_file.empty() ? output_tail_ : ReadTail(output_file, kSetupErrorTail);
    std::string said;
    std::istringstream lines(tail);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("bwrap: ", 0) == 0) said += (said.empty() ? "" : "; ") + line.substr(7);
    }
    if (!said.empty()) return said;
    return absl::StrCat(end.exited
                            ? absl::StrCat("bubblewrap exited with code ", end.exit_code)
                            : absl::StrCat("bubblewrap was killed by signal ", end.term_signal),
                        " before the script started");
  }

 private:
  ExecLine exec_;
  int status_read_;
  std::string output_tail_;  // pipe mode: the last output, for a setup error
};

}  // namespace

std::string BubblewrapSandbox::Description() const {
  return absl::StrCat(
      "sandboxed by bubblewrap: system read-only, writable ",
      absl::StrJoin(policy_.writable, ", ",
                    [](std::string* out, const fs::path& path) { out->append(path.string()); }),
      policy_.network ? "" : ", no network");
}

absl::StatusOr<std::unique_ptr<SandboxedLaunch>> BubblewrapSandbox::Prepare(
    const Command& command) const {
  int status_fds[2] = {-1, -1};
  if (::pipe2(status_fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("cannot create pipe: ", std::strerror(errno)));
  }
  ExecLine exec;
  exec.executable = policy_.bwrap;
  exec.arguments = BubblewrapArguments(policy_, command.working_dir, kStatusFd, command.executable,
                                       command.arguments);
  exec.inherit_fd = status_fds[1];
  exec.inherit_as = kStatusFd;
  return std::make_unique<BubblewrapLaunch>(std::move(exec), status_fds[0]);
}

}  // namespace runyard::sandbox
