#pragma once

// A stand-in for a run, for the tests of sandbox/containment.h and sandbox/run_journal.h:
// a python script started the way runtime/launcher.cc starts a run (a session of its own,
// the containment joined between fork and exec, the run's tag in its environment). It
// forks a child that leaves the session (setsid) and forks a grandchild; the child exits
// at once, orphaning the grandchild (a double fork).
//
// Every process of it answers SIGUSR1 with "alive <pid>" on the pipe they share: how a
// test learns, without sleeping, that a signal left a process alive (a signal that kills
// is settled when it is sent, so a process it was sent to answers no later ping).
//
// While a Workload lives the test process is a child subreaper, so the orphaned grandchild
// becomes its child; the Workload reaps every process it knows of.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sandbox/containment.h"
#include "sandbox/process_group.h"

namespace runyard::testutil {

class ContainedWorkload {
 public:
  enum class OnTerm { kIgnore, kDie };

  // Generous: a loaded two-core machine may take seconds to start python.
  static constexpr std::chrono::seconds kPatience{30};

  ContainedWorkload(sandbox::Containment& containment, const std::string& tag, OnTerm on_term) {
    ::prctl(PR_GET_CHILD_SUBREAPER, &was_subreaper_, 0, 0, 0);
    ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2 failed";
      return;
    }
    output_ = fds[0];
    // Everything the child needs is built before fork: it may only make async-signal-safe calls.
    const std::vector<std::string> arguments = {"/usr/bin/python3", "-c", kScript,
                                                on_term == OnTerm::kIgnore ? "ignore" : "die"};
    const std::vector<std::string> environment = {"PATH=/usr/bin:/bin",
                                                  std::string(sandbox::kRunTagVariable) + "=" + tag};
    std::vector<char*> argv, envp;
    for (const std::string& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
    for (const std::string& variable : environment) envp.push_back(const_cast<char*>(variable.c_str()));
    argv.push_back(nullptr);
    envp.push_back(nullptr);

    const pid_t pid = ::fork();
    if (pid == 0) {
      if (::setsid() < 0 || containment.JoinFromChild() != 0 || ::dup2(fds[1], 1) < 0) ::_exit(126);
      sandbox::ResetSignalsForExec();
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    if (pid < 0) {
      ADD_FAILURE() << "fork failed";
      return;
    }
    leader_ = pid;
    Watch(pid);
    containment.Started(pid);
  }

  ~ContainedWorkload() {
    for (const auto& [pid, pidfd] : pidfds_) {
      ::kill(pid, SIGKILL);
      if (Exited(pidfd)) ::waitpid(pid, nullptr, 0);
      ::close(pidfd);
    }
    if (output_ >= 0) ::close(output_);
    ::prctl(PR_SET_CHILD_SUBREAPER, was_subreaper_, 0, 0, 0);
  }

  ContainedWorkload(const ContainedWorkload&) = delete;
  ContainedWorkload& operator=(const ContainedWorkload&) = delete;

  // Waits for the script to report its pids (the child has exited by then and the
  // grandchild is this process's child); false if it does not.
  bool Ready() {
    const std::string line = NextLineStartingWith("pids ");
    int leader = 0, child = 0, grandchild = 0;
    if (std::sscanf(line.c_str(), "pids %d %d %d", &leader, &child, &grandchild) != 3 || leader != leader_) {
      ADD_FAILURE() << "no pids from the workload (got \"" << line << "\")";
      return false;
    }
    child_ = child;
    grandchild_ = grandchild;
    Watch(grandchild_);
    return true;
  }

  pid_t leader() const { return leader_; }
  pid_t child() const { return child_; }  // gone by Ready
  pid_t grandchild() const { return grandchild_; }

  // True when `pid` answers a SIGUSR1, i.e. is alive and not about to die of a signal.
  bool Answers(pid_t pid) {
    if (::kill(pid, SIGUSR1) != 0) return false;
    return !NextLineStartingWith("alive " + std::to_string(pid) + "\n").empty();
  }

  // Waits until `pid` has exited, then reaps it; false if it does not exit.
  bool Gone(pid_t pid) {
    auto found = pidfds_.find(pid);
    if (found == pidfds_.end()) return false;
    if (!Exited(found->second)) return false;
    ::waitpid(pid, nullptr, 0);
    ::close(found->second);
    pidfds_.erase(found);
    return true;
  }

 private:
  // SIGUSR1 stays blocked and is taken by sigwaitinfo: a Python handler could miss one that
  // lands just before a long sleep begins.
  static constexpr const char* kScript = R"(
import os, signal, sys

def answer_pings():
    while True:
        signal.sigwaitinfo({signal.SIGUSR1})
        os.write(1, b"alive %d\n" % os.getpid())

signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
if sys.argv[1] == "ignore":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
r, w = os.pipe()
child = os.fork()
if child == 0:
    os.setsid()
    grandchild = os.fork()
    if grandchild == 0:
        answer_pings()
    os.write(w, b"%d" % grandchild)
    os._exit(0)
os.close(w)
grandchild = int(os.read(r, 32))
os.waitpid(child, 0)
os.write(1, b"pids %d %d %d\n" % (os.getpid(), child, grandchild))
answer_pings()
)";

  // A pidfd pins the pid: it cannot be reused by another process before it is reaped.
  void Watch(pid_t pid) {
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) {
      ADD_FAILURE() << "pidfd_open(" << pid << ") failed";
      return;
    }
    pidfds_[pid] = pidfd;
  }

  static bool Exited(int pidfd) {
    pollfd entry{pidfd, POLLIN, 0};
    return ::poll(&entry, 1, static_cast<int>(std::chrono::milliseconds(kPatience).count())) == 1;
  }

  // The next line of output that starts with `prefix` (other lines are dropped); empty when
  // none comes in time.
  std::string NextLineStartingWith(const std::string& prefix) {
    const auto deadline = std::chrono::steady_clock::now() + kPatience;
    while (true) {
      for (size_t end; (end = buffer_.find('\n')) != std::string::npos;) {
        std::string line = buffer_.substr(0, end + 1);
        buffer_.erase(0, end + 1);
        if (line.rfind(prefix, 0) == 0) return line;
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd entry{output_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&entry, 1, static_cast<int>(left.count())) != 1) return "";
      char bytes[256];
      const ssize_t got = ::read(output_, bytes, sizeof bytes);
      if (got <= 0) return "";
      buffer_.append(bytes, static_cast<size_t>(got));
    }
  }

  int was_subreaper_ = 0;
  int output_ = -1;
  std::string buffer_;
  pid_t leader_ = -1;
  pid_t child_ = -1;
  pid_t grandchild_ = -1;
  std::map<pid_t, int> pidfds_;  // the processes still to reap
};

}  // namespace runyard::testutil
