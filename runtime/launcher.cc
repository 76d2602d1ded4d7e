#include "runtime/launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/process/v2/process.hpp>
#include <optional>
#include <thread>

#include "common/owned_children.h"
#include "runtime/output_tail.h"
#include "runtime/spawn.h"
#include "sandbox/host_sandbox.h"

namespace runyard::runtime {
namespace asio = boost::asio;
namespace bp = boost::process::v2;
namespace fs = std::filesystem;
namespace {

// After the main process exits, how long to keep reading output from processes that
// escaped the kill (they still hold the pipe) before giving up on them.
constexpr auto kOutputDrainLimit = std::chrono::seconds(2);

// Output-file mode: how often the file is read even without an inotify event.
constexpr auto kTailPollInterval = std::chrono::milliseconds(200);
constexpr auto kTailCoalesce = std::chrono::milliseconds(10);  // after an event, before reading
constexpr auto kTailBackOff = std::chrono::milliseconds(100);  // the poll while output pours in
constexpr int64_t kHeavyOutputBytes = 1 << 20;                 // read at once: output is pouring in

// One run's event loop: output, exit, deadline and cancel, all on one thread.
class Supervisor {
 public:
  Supervisor(const LaunchRequest& request, const std::function<void(std::string_view)>& on_output,
             const std::function<void(const std::string&)>& on_event,
             sandbox::Containment* containment, const sandbox::Sandbox& sandbox)
      : request_(request),
        on_output_(on_output),
        on_event_(on_event),
        containment_(containment),
        sandbox_(sandbox),
        pipe_(io_),
        deadline_(io_),
        grace_(io_),
        drain_(io_),
        tail_events_(io_),
        tail_poll_(io_),
        tail_pause_(io_) {}

  LaunchResult Run(CancelToken& cancel, const std::function<void(pid_t)>& on_started) {
    // fds[1]: where the child's stdout and stderr go (a pipe, or the output file).
    int fds[2] = {-1, -1};
    if (request_.output_file.empty()) {
      if (::pipe2(fds, O_CLOEXEC) != 0) {
        result_.start_error = std::string("cannot create pipe: ") + strerror(errno);
        return result_;
      }
      pipe_.assign(fds[0]);
    } else {
      fds[1] = ::open(request_.output_file.c_str(),
                      O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
      if (fds[1] < 0) {
        result_.start_error =
            "cannot create " + request_.output_file.string() + ": " + strerror(errno);
        return result_;
      }
      output_closed_ = true;  // nothing to drain: the file is read as it grows
      if (request_.on_output_range) {
        tail_.emplace(request_.output_file, request_.max_output_bytes,
                      OutputTail::RangeSink(request_.on_output_range));
      } else {
        tail_.emplace(request_.output_file, request_.max_output_bytes,
                      OutputTail::BytesSink([this](std::string_view bytes) { on_output_(bytes); }));
      }
    }
    // What is exec'd: the command itself, or a sandbox tool around it.
    absl::StatusOr<std::unique_ptr<sandbox::SandboxedLaunch>> launch =
        sandbox_.Prepare({request_.executable, request_.arguments, request_.working_dir});
    if (!launch.ok()) {
      ::close(fds[1]);
      result_.start_error = std::string(launch.status().message());
      return result_;
    }
    launch_ = std::move(*launch);
    const sandbox::ExecLine& exec = launch_->exec();
    std::vector<std::string> env_lines;
    for (const auto& [name, value] : request_.environment) env_lines.push_back(name + "=" + value);
    SpawnRequest spawn;
    spawn.executable = exec.executable;
    spawn.arguments = exec.arguments;
    spawn.environment = std::move(env_lines);
    spawn.working_dir = request_.working_dir;
    spawn.output_fd = fds[1];
    spawn.inherit_fd = exec.inherit_fd;
    spawn.inherit_as = exec.inherit_as;
    spawn.child_setup = [this] {
      if (const int error = containment_->JoinFromChild(); error != 0) return error;
      return request_.restrictions.Apply();
    };
    absl::StatusOr<pid_t> pid = Spawn(spawn);
    if (!pid.ok()) {
      ::close(fds[1]);
      result_.start_error = std::string(pid.status().message());
      return result_;
    }
    process_.emplace(io_.get_executor(), *pid);
    owned_.Own(process_->id());
    ::close(fds[1]);  // the child holds the only write end now: EOF when all its holders die
    launch_->Spawned();
    result_.started = true;
    pgid_ = process_->id();
    containment_->Started(pgid_);
    if (on_started) on_started(pgid_);

    if (tail_) {
      FollowOutputFile();
    } else {
      ReadOutput();
    }
    process_->async_wait([this](boost::system::error_code, int) { OnMainExited(); });
    if (request_.max_duration.count() > 0) {
      deadline_.expires_after(request_.max_duration);
      deadline_.async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        result_.deadline_exceeded = true;
        BeginKill("max run duration reached");
      });
    }
    CancelToken::Subscription on_cancel = cancel.OnCancel([this] {
      asio::post(io_, [this] {
        if (main_exited_) return;
        result_.canceled = true;
        BeginKill("cancel requested");
      });
    });
    io_.run();
    WaitUntilEmpty();
    if (tail_) {
      tail_->Finish();  // every writer is gone: the rest of the file
      result_.output_dropped_bytes = tail_->dropped_bytes();
    }
    result_.sandbox_error =
        launch_->SetupError({result_.exited, result_.exit_code, result_.term_signal,
                             result_.canceled || result_.deadline_exceeded},
                            request_.output_file);
    return result_;
  }

 private:
  void ReadOutput() {
    pipe_.async_read_some(asio::buffer(buffer_), [this](boost::system::error_code ec, size_t n) {
      if (n > 0) {
        on_output_(std::string_view(buffer_.data(), n));
        launch_->SawOutput(std::string_view(buffer_.data(), n));
      }
      if (ec) {  // EOF: every holder of the write end is gone
        output_closed_ = true;
        MaybeFinish();
        return;
      }
      ReadOutput();
    });
  }

  // Hands on the output file's new bytes whenever inotify says it was written to, and
  // every kTailPollInterval whatever it says (no inotify, or an event lost).
  void FollowOutputFile() {
    WatchOutputFile();
    PollOutputFile();
  }

  void WatchOutputFile() {
    const int inotify = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify >= 0 &&
        ::inotify_add_watch(inotify, request_.output_file.c_str(), IN_MODIFY) >= 0) {
      tail_events_.assign(inotify);
      WaitForOutputEvent();
    } else if (inotify >= 0) {
      ::close(inotify);
    }
  }

  // A watched file costs the writer an inotify event on every write(). While output pours
  // in, the watch is dropped and the file is read every kTailBackOff instead, so the agent
  // reads in large pieces and keeps off the CPU the script is using; once the flood is
  // over the watch comes back, and a line now and then is read at once again.
  void WaitForOutputEvent() {
    tail_events_.async_read_some(
        asio::buffer(event_buffer_), [this](boost::system::error_code ec, size_t) {
          if (ec || !following_) return;
          if (tail_->ReadNew() >= kHeavyOutputBytes) {
            tail_events_.close(ec);  // the poll takes over, faster while unwatched
            return;
          }
          tail_pause_.expires_after(kTailCoalesce);
          tail_pause_.async_wait([this](boost::system::error_code ec) {
            if (!ec && following_ && tail_events_.is_open()) WaitForOutputEvent();
          });
        });
  }

  void PollOutputFile() {
    const bool watched = tail_events_.is_open();
    tail_poll_.expires_after(watched ? kTailPollInterval : kTailBackOff);
    tail_poll_.async_wait([this](boost::system::error_code ec) {
      // A handler already queued when the wait was canceled still runs, with no error.
      if (ec || !following_) return;
      const int64_t read = tail_->ReadNew();
      if (!tail_events_.is_open() && read < kHeavyOutputBytes) WatchOutputFile();
      PollOutputFile();
    });
  }

  // SIGTERM now, SIGKILL after the grace period unless everything is gone by then.
  void BeginKill(const char* reason) {
    if (killing_) return;
    killing_ = true;
    Event(std::string(reason) + ": SIGTERM to every process of the run (" +
          sandbox::ModeName(containment_->mode()) + "), SIGKILL in " +
          std::to_string(request_.kill_grace.count()) + " ms; first process " +
          std::to_string(pgid_));
    // A sandbox tool may be spared: its death could SIGKILL the script at once, with no grace.
    containment_->SignalAll(SIGTERM, launch_->SparedFromTerm(pgid_));
    grace_.expires_after(request_.kill_grace);
    grace_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      Event("grace period over: SIGKILL to every process of the run");
      containment_->KillAll();
    });
  }

  void Event(const std::string& line) {
    if (on_event_) on_event_(line);
  }

  void OnMainExited() {
    main_exited_ = true;
    const int status = process_->native_exit_code();
    if (WIFEXITED(status)) {
      result_.exited = true;
      result_.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      result_.term_signal = WTERMSIG(status);
    }
    deadline_.cancel();
    // Leftovers (background children, double-forked daemons) die with the run.
    containment_->KillAll();
    grace_.cancel();
    drain_.expires_after(kOutputDrainLimit);
    drain_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      pipe_.close();  // someone outside the group still holds the pipe: stop reading
    });
    MaybeFinish();
  }

  // The kill is asynchronous; a run is over when its last process is.
  void WaitUntilEmpty() {
    if (!result_.started) return;
    for (int i = 0; i < 200 && !containment_->Empty(); ++i) {
      if (i % 20 == 0) containment_->KillAll();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  void MaybeFinish() {
    if (main_exited_ && output_closed_) {
      following_ = false;  // Finish() reads the rest once every writer is gone
      tail_poll_.cancel();
      tail_pause_.cancel();
      if (tail_events_.is_open()) tail_events_.close();
      drain_.cancel();
      deadline_.cancel();
      grace_.cancel();
    }
  }

  const LaunchRequest& request_;
  const std::function<void(std::string_view)>& on_output_;
  const std::function<void(const std::string&)>& on_event_;
  sandbox::Containment* containment_;
  const sandbox::Sandbox& sandbox_;
  std::unique_ptr<sandbox::SandboxedLaunch> launch_;  // once prepared
  asio::io_context io_;
  asio::readable_pipe pipe_;
  asio::steady_timer deadline_;
  asio::steady_timer grace_;
  asio::steady_timer drain_;
  std::optional<OutputTail> tail_;              // output-file mode
  asio::posix::stream_descriptor tail_events_;  // inotify on the output file
  asio::steady_timer tail_poll_;
  asio::steady_timer tail_pause_;
  bool following_ = true;
  std::array<char, 4096> event_buffer_{};
  common::OwnedChild owned_;  // announced before the spawn: the orphan reaper keeps off it
  std::optional<bp::process> process_;
  std::array<char, 1 << 16> buffer_{};
  pid_t pgid_ = -1;
  bool killing_ = false;
  bool main_exited_ = false;
  bool output_closed_ = false;
  LaunchResult result_;
};

}  // namespace

LaunchResult LaunchAndWait(const LaunchRequest& request,
                           const std::function<void(std::string_view)>& on_output,
                           CancelToken& cancel, const std::function<void(pid_t)>& on_started,
                           const std::function<void(const std::string&)>& on_event) {
  // Without a containment of its own, the run is held by its process group.
  std::unique_ptr<sandbox::Containment> own;
  sandbox::Containment* containment = request.containment;
  if (containment == nullptr) {
    own = std::move(*sandbox::ContainmentFactory::ProcessGroupOnly());
    containment = own.get();
  }
  static const sandbox::HostSandbox kHost;  // no sandbox asked for: the host, as it is
  Supervisor supervisor(request, on_output, on_event, containment,
                        request.sandbox != nullptr ? *request.sandbox : kHost);
  return supervisor.Run(cancel, on_started);
}

}  // namespace runyard::runtime
