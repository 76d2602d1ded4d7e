#include "runtime/ranks_supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

extern char** environ;

namespace runyard::runtime {
namespace fs = std::filesystem;
namespace {

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What a child reports on its close-on-exec pipe when it cannot become the process.
enum ChildStep : int { kOpenLog = 1, kChangeDirectory = 2, kExecute = 3 };
struct ChildFailure {
  int step;
  int error;
};

// One process's argv and environment as exec wants them, made before the fork.
struct ExecLine {
  std::vector<std::string> argv_storage;
  std::vector<std::string> env_storage;
  std::vector<char*> argv;
  std::vector<char*> envp;
};

ExecLine ExecLineOf(const SupervisedProcess& process) {
  std::map<std::string, std::string> environment;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string_view line(*entry);
    const size_t eq = line.find('=');
    if (eq != std::string_view::npos) {
      environment[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
    }
  }
  for (const auto& [name, value] : process.environment) environment[name] = value;
  ExecLine line;
  line.argv_storage = process.argv;
  for (const auto& [name, value] : environment) line.env_storage.push_back(name + "=" + value);
  for (std::string& arg : line.argv_storage) line.argv.push_back(arg.data());
  line.argv.push_back(nullptr);
  for (std::string& entry : line.env_storage) line.envp.push_back(entry.data());
  line.envp.push_back(nullptr);
  return line;
}

std::string Plural(size_t n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : noun.back() == 's' ? "es" : "s");
}

class Supervision {
 public:
  Supervision(const SupervisorPlan& plan, std::chrono::milliseconds kill_grace, std::ostream& events)
      : plan_(plan), kill_grace_(kill_grace), events_(events), pids_(plan.processes.size(), -1) {
    // Ranks are called ranks; other processes (a node's launcher) processes.
    noun_ = std::all_of(plan.processes.begin(), plan.processes.end(),
                        [](const SupervisedProcess& p) { return p.label.rfind("rank ", 0) == 0; })
                ? "rank"
                : "process";
    success_codes_ = plan.successful_return_codes;
    if (success_codes_.empty()) success_codes_.push_back(0);
    for (const SupervisedProcess& process : plan.processes) {
      SupervisedResult result;
      result.rank = process.rank;
      result.node_rank = process.node_rank;
      result.local_rank = process.local_rank;
      result_.processes.push_back(result);
    }
  }

  SupervisorResult Run() {
    sigset_t watched;
    sigemptyset(&watched);
    for (int signal : {SIGCHLD, SIGTERM, SIGINT}) sigaddset(&watched, signal);
    // Blocked, and taken with sigtimedwait: no handler runs at an awkward moment.
    ::sigprocmask(SIG_BLOCK, &watched, &inherited_mask_);
    if (StartAll()) WriteStartedFile();
    WaitForAll(watched);
    // Whatever the ranks left in their process groups goes with them.
    SignalAll(SIGKILL);
    if (result_.first_failed >= 0) {
      const SupervisedResult& failed = result_.processes[result_.first_failed];
      result_.exit_code = failed.exited ? failed.exit_code
                          : failed.started ? 128 + failed.term_signal
                                           : 127;
    }
    WriteResultFile();
    return result_;
  }

 private:
  bool StartAll() {
    for (size_t i = 0; i < plan_.processes.size(); ++i) {
      if (!Start(i)) {
        const SupervisedProcess& process = plan_.processes[i];
        result_.processes[i].ended_unix_ms = NowUnixMs();
        MarkFailed(i);
        Event(process.label + " could not be started: " + result_.processes[i].start_error +
              StoppingOthers());
        BeginStop(SIGTERM);
        return false;
      }
    }
    Event("started " + Plural(plan_.processes.size(), noun_) + ": " + Labels());
    return true;
  }

  // False (start_error set) when the process could not be started.
  bool Start(size_t index) {
    const SupervisedProcess& process = plan_.processes[index];
    ExecLine line = ExecLineOf(process);
    int report[2];
    if (::pipe2(report, O_CLOEXEC) != 0) {
      result_.processes[index].start_error = std::string("cannot create a pipe: ") + strerror(errno);
      return false;
    }
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
      result_.processes[index].start_error = std::string("cannot fork: ") + strerror(errno);
      ::close(report[0]);
      ::close(report[1]);
      return false;
    }
    if (pid == 0) {
      ::close(report[0]);
      BecomeProcess(process, line, parent, report[1]);  // never returns
    }
    ::setpgid(pid, pid);  // also here: a signal to the group may come before the child's own call
    ::close(report[1]);
    ChildFailure failure{};
    const ssize_t got = ::read(report[0], &failure, sizeof failure);
    ::close(report[0]);
    pids_[index] = pid;
    ++running_;
    if (got == static_cast<ssize_t>(sizeof failure)) {
      const std::string what = failure.step == kOpenLog ? "cannot open its log file " + process.log_file.string()
                               : failure.step == kChangeDirectory
                                   ? "cannot change to " + process.working_dir.string()
                                   : "cannot execute " + process.argv[0];
      result_.processes[index].start_error = what + ": " + strerror(failure.error);
      return false;  // it exits 127 and is reaped by the loop
    }
    result_.processes[index].started = true;
    return true;
  }

  // In the child: its own process group, killed with the supervisor, its output in its log.
  // Only async-signal-safe calls (the supervisor has one thread, but be strict anyway).
  [[noreturn]] void BecomeProcess(const SupervisedProcess& process, ExecLine& line, pid_t parent,
                                  int report_fd) {
    auto fail = [report_fd](int step) {
      const ChildFailure failure{step, errno};
      [[maybe_unused]] ssize_t ignored = ::write(report_fd, &failure, sizeof failure);
      ::_exit(127);
    };
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the supervisor is already gone
    ::sigprocmask(SIG_SETMASK, &inherited_mask_, nullptr);
    if (!process.log_file.empty()) {
      const int fd = ::open(process.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd < 0) fail(kOpenLog);
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      if (fd > STDERR_FILENO) ::close(fd);
    }
    if (const int null = ::open("/dev/null", O_RDONLY); null >= 0) {
      ::dup2(null, STDIN_FILENO);
      if (null > STDERR_FILENO) ::close(null);
    }
    if (!process.working_dir.empty() && ::chdir(process.working_dir.c_str()) != 0) {
      fail(kChangeDirectory);
    }
    ::execve(line.argv[0], line.argv.data(), line.envp.data());
    fail(kExecute);
    ::_exit(127);
  }

  void WaitForAll(const sigset_t& watched) {
    while (running_ > 0) {
      // A bounded wait: a SIGCHLD is never needed to notice an end (the reap below runs
      // after every wake), only to notice it at once.
      auto wait_for = std::chrono::milliseconds(1000);
      if (stopping_ && !killed_) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            kill_at_ - std::chrono::steady_clock::now());
        wait_for = std::clamp(left, std::chrono::milliseconds(0), wait_for);
      }
      timespec timeout{static_cast<time_t>(wait_for.count() / 1000),
                       static_cast<long>(wait_for.count() % 1000) * 1000000};
      siginfo_t info;
      const int signal = ::sigtimedwait(&watched, &info, &timeout);
      if (signal == SIGTERM || signal == SIGINT) OnSignalFromOutside(signal);
      Reap();
      if (stopping_ && !killed_ && running_ > 0 && std::chrono::steady_clock::now() >= kill_at_) {
        Event("grace period over: SIGKILL to the " + Plural(running_, noun_) + " left");
        SignalAll(SIGKILL);
        killed_ = true;
      }
    }
  }

  void OnSignalFromOutside(int signal) {
    if (!result_.stopped_from_outside) {
      Event(std::string("received ") + (signal == SIGTERM ? "SIGTERM" : "SIGINT") +
            ": passing it on to the " + Plural(running_, noun_) + " running");
    }
    result_.stopped_from_outside = true;
    BeginStop(signal);
  }

  void Reap() {
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      const auto it = std::find(pids_.begin(), pids_.end(), pid);
      if (it == pids_.end()) continue;  // not ours (cannot happen: we have no other child)
      Ended(static_cast<size_t>(it - pids_.begin()), status);
    }
  }

  void Ended(size_t index, int status) {
    --running_;
    SupervisedResult& result = result_.processes[index];
    result.ended_unix_ms = NowUnixMs();
    if (!result.started) return;  // its start failure was told already
    const std::string& label = plan_.processes[index].label;
    if (WIFEXITED(status)) {
      result.exited = true;
      result.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      result.term_signal = WTERMSIG(status);
    }
    const std::string how = result.exited
                                ? "exited with code " + std::to_string(result.exit_code)
                                : "was killed by signal " + std::to_string(result.term_signal) +
                                      " (" + strsignal(result.term_signal) + ")";
    const bool succeeded =
        result.exited && std::find(success_codes_.begin(), success_codes_.end(),
                                   result.exit_code) != success_codes_.end();
    if (succeeded || stopping_) {
      if (!succeeded) MarkFailed(index);
      Event(label + " " + how);
      return;
    }
    MarkFailed(index);
    Event(label + " " + how + StoppingOthers());
    BeginStop(SIGTERM);
  }

  void MarkFailed(size_t index) {
    if (result_.first_failed < 0) result_.first_failed = static_cast<int>(index);
  }

  std::string StoppingOthers() const {
    if (running_ == 0) return "";
    return "; stopping the other " + Plural(running_, noun_);
  }

  // `signal` to every process group now; SIGKILL once the grace is over.
  void BeginStop(int signal) {
    SignalAll(signal);
    if (stopping_) return;
    stopping_ = true;
    kill_at_ = std::chrono::steady_clock::now() + kill_grace_;
  }

  // Every group, also those whose leader is gone: what it left behind is in it.
  void SignalAll(int signal) {
    for (const pid_t pid : pids_) {
      if (pid > 0) ::kill(-pid, signal);
    }
  }

  std::string Labels() const {
    std::string labels;
    for (size_t i = 0; i < plan_.processes.size(); ++i) {
      if (i > 0) labels += ", ";
      labels += plan_.processes[i].label + " (pid " + std::to_string(pids_[i]) + ")";
    }
    return labels;
  }

  void WriteStartedFile() {
    if (plan_.started_file.empty()) return;
    std::ofstream(plan_.started_file) << plan_.processes.size() << "\n";
  }

  void WriteResultFile() {
    if (plan_.result_file.empty()) return;
    const fs::path temporary = plan_.result_file.string() + ".tmp";
    {
      std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
      out << SupervisorResultJson(result_) << "\n";
      if (!out) {
        Event("cannot write " + temporary.string());
        return;
      }
    }
    std::error_code ec;
    fs::rename(temporary, plan_.result_file, ec);
    if (ec) Event("cannot write " + plan_.result_file.string() + ": " + ec.message());
  }

  void Event(const std::string& line) { events_ << "[runyard-ranks] " << line << std::endl; }

  const SupervisorPlan& plan_;
  const std::chrono::milliseconds kill_grace_;
  std::ostream& events_;
  const char* noun_ = "process";
  std::vector<int> success_codes_;
  std::vector<pid_t> pids_;  // by plan index; -1: never forked
  size_t running_ = 0;       // forked and not yet reaped
  bool stopping_ = false;
  bool killed_ = false;
  std::chrono::steady_clock::time_point kill_at_{};
  sigset_t inherited_mask_{};
  SupervisorResult result_;
};

}  // namespace

SupervisorResult SuperviseProcesses(const SupervisorPlan& plan, std::chrono::milliseconds kill_grace,
                                    std::ostream& events) {
  Supervision supervision(plan, kill_grace, events);
  return supervision.Run();
}

}  // namespace runyard::runtime
