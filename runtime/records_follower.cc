#include "runtime/records_follower.h"

#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "runtime/run_api_channel.h"

namespace runyard::runtime {
namespace fs = std::filesystem;

absl::StatusOr<std::shared_ptr<CommittedOffset>> CommittedOffset::Open(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot open ", file.string(), ": ", strerror(errno)));
  }
  return std::shared_ptr<CommittedOffset>(new CommittedOffset(fd));
}

CommittedOffset::~CommittedOffset() { ::close(fd_); }

void CommittedOffset::Advance(int64_t offset) {
  std::lock_guard lock(mutex_);
  if (offset <= value_) return;
  const std::string text = CommittedText(offset);
  // Fixed width at offset 0: the file is never seen shorter or half old, half new digits
  // of a different length. A failed write leaves the old number, which is still true.
  if (::pwrite(fd_, text.data(), text.size(), 0) == static_cast<ssize_t>(text.size())) {
    value_ = offset;
  }
}

int64_t CommittedOffset::value() {
  std::lock_guard lock(mutex_);
  return value_;
}

absl::StatusOr<std::unique_ptr<RecordsFollower>> RecordsFollower::Start(const fs::path& records,
                                                                        const fs::path& committed,
                                                                        std::string history_path,
                                                                        RunObserver* observer,
                                                                        Options options) {
  absl::StatusOr<std::shared_ptr<CommittedOffset>> offset = CommittedOffset::Open(committed);
  if (!offset.ok()) return offset.status();
  const int records_fd = ::open(records.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (records_fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot open ", records.string(), ": ", strerror(errno)));
  }
  const int stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd < 0) {
    ::close(records_fd);
    return absl::InternalError(absl::StrCat("eventfd: ", strerror(errno)));
  }
  // One watch on the file itself: only its writes wake the follower (not `committed`).
  int inotify_fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd >= 0 && ::inotify_add_watch(inotify_fd, records.c_str(), IN_MODIFY) < 0) {
    ::close(inotify_fd);
    inotify_fd = -1;
  }
  return std::unique_ptr<RecordsFollower>(new RecordsFollower(records, records_fd, inotify_fd,
                                                              stop_fd, std::move(*offset),
                                                              std::move(history_path), observer,
                                                              std::move(options)));
}

RecordsFollower::RecordsFollower(fs::path records, int records_fd, int inotify_fd, int stop_fd,
                                 std::shared_ptr<CommittedOffset> committed,
                                 std::string history_path, RunObserver* observer,
                                 Options options)
    : records_(std::move(records)),
      records_fd_(records_fd),
      inotify_fd_(inotify_fd),
      stop_fd_(stop_fd),
      committed_(std::move(committed)),
      history_path_(std::move(history_path)),
      observer_(observer),
      options_(std::move(options)),
      thread_([this] { Loop(); }) {}

RecordsFollower::~RecordsFollower() {
  Finish();
  ::close(records_fd_);
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
  ::close(stop_fd_);
}

void RecordsFollower::Finish() {
  if (finished_) return;
  finished_ = true;
  const uint64_t one = 1;
  (void)!::write(stop_fd_, &one, sizeof one);
  thread_.join();
  Pass();  // what was written after the thread's last pass
}

int64_t RecordsFollower::reported() const {
  std::lock_guard lock(pass_mutex_);
  return reported_;
}

void RecordsFollower::Loop() {
  while (WaitForWrite()) Pass();
}

bool RecordsFollower::WaitForWrite() {
  pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {inotify_fd_, POLLIN, 0}};
  const int count = inotify_fd_ >= 0 ? 2 : 1;
  // With inotify nothing wakes this thread but a write (or the stop): an idle run costs
  // nothing. Without it, a poll; and after a refused range, a retry of it.
  int timeout = inotify_fd_ >= 0 ? -1 : static_cast<int>(kPollWithoutInotify.count());
  if (refused_) timeout = static_cast<int>(kRetryAfterRefusal.count());
  int ready = 0;
  do {
    ready = ::poll(fds, count, timeout);
  } while (ready < 0 && errno == EINTR);
  if (fds[0].revents & POLLIN) return false;
  if (count == 2 && (fds[1].revents & POLLIN)) {
    alignas(inotify_event) char events[4096];
    while (::read(inotify_fd_, events, sizeof events) > 0) {
    }
  }
  // A flood of small writes is read in pieces of at least kMinPassInterval's worth: the
  // first write after a quiet spell is read at once, the writes that follow it within the
  // interval together.
  const auto since = std::chrono::steady_clock::now() - last_pass_;
  if (since < kMinPassInterval) {
    const auto rest =
        std::chrono::duration_cast<std::chrono::milliseconds>(kMinPassInterval - since);
    pollfd stop{stop_fd_, POLLIN, 0};
    if (::poll(&stop, 1, static_cast<int>(std::max<int64_t>(rest.count(), 1))) > 0) return false;
  }
  return true;
}

void RecordsFollower::Pass() {
  std::lock_guard lock(pass_mutex_);
  last_pass_ = std::chrono::steady_clock::now();
  struct stat info {};
  if (::fstat(records_fd_, &info) != 0) return;
  int64_t size = info.st_size;
  if (options_.max_bytes > 0 && size > options_.max_bytes) {
    size = options_.max_bytes;
    if (!limit_told_ && options_.on_limit) {
      options_.on_limit(absl::StrCat(
          "run_api/records.jsonl passed max_run_api_bytes (", options_.max_bytes,
          " bytes): nothing past that is reported, and the script's records after it are lost"));
    }
    limit_told_ = true;
  }
  // Shorter than what was reported (the script truncated it): nothing new until it grows
  // past that again; the records are append-only by contract.
  if (size <= reported_) {
    refused_ = false;
    return;
  }
  int64_t taken = reported_;
  while (taken < size) {
    const int64_t length = std::min(kMaxRangeBytes, size - taken);
    // Not taken (the spool could not be written): neither reported nor acknowledged, so
    // `committed` never passes bytes that are not on their way; offered again later.
    if (!observer_->OnFileRange(history_path_, records_, taken, length)) break;
    taken += length;
  }
  refused_ = taken < size;
  if (taken == reported_) return;
  reported_ = taken;
  observer_->WhenAcknowledged([committed = committed_, taken] { committed->Advance(taken); });
}

}  // namespace runyard::runtime
