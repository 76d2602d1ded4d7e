// ControlPlane's ingestion of the in-run API's record channel: the lines a run's script
// wrote (system_logs/run_records.jsonl, appended by its agent like any run file) become
// metrics, tags, properties, child runs and the outcome the script asked for.
//
// Exactly once: the store keeps how far the file was read (RecordsIngested), written in
// the same transaction as what the lines say, and only bytes past it are read. A resend,
// a retried report or a truncate-and-resend after an agent restart changes nothing that
// was ingested.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "common/distributed_config.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "server/control_plane.h"
#include "server/control_plane_internal.h"
#include "server/run_record_pass.h"
#include "server/run_records.h"

namespace runyard::server {
using runyard::v1::RunStatus;
namespace fs = std::filesystem;
namespace {

auto Log() { return common::Logger("server"); }

// The most read in one pass (one transaction): the longest line a record may have, with its
// '\n'. A pass normally reads one append's bytes; a bigger backlog takes several passes, so
// that one holds bounded memory and the store's writer lock only briefly.
constexpr int64_t kWindowBytes = static_cast<int64_t>(kMaxRecordLineBytes) + 1;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::Status ReadFully(int fd, int64_t offset, std::string* out) {
  size_t done = 0;
  while (done < out->size()) {
    const ssize_t got = ::pread(fd, out->data() + done, out->size() - done,
                                static_cast<off_t>(offset + static_cast<int64_t>(done)));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0)
      return absl::InternalError(
          absl::StrCat("cannot read the record channel: ", std::strerror(errno)));
    if (got == 0) break;  // shorter than fstat said: a truncation meanwhile
    done += static_cast<size_t>(got);
  }
  out->resize(done);
  return absl::OkStatus();
}

// Appends to the run's system_logs/run_api_errors.txt (which only ingestion writes, one
// ingestion of a run at a time).
absl::Status AppendRunApiErrors(RunFiles* files, const std::string& run_id,
                                const std::string& text) {
  ASSIGN_OR_RETURN(const fs::path path, files->Locate(run_id, kRunApiErrorsPath));
  struct stat st {};
  int64_t size = 0;
  if (::stat(path.c_str(), &st) == 0) {
    size = static_cast<int64_t>(st.st_size);
  } else if (errno != ENOENT) {
    return absl::InternalError(absl::StrCat("cannot stat it: ", std::strerror(errno)));
  }
  return files->Append(run_id, kRunApiErrorsPath, size, text, false).status();
}

}  // namespace

std::shared_ptr<std::mutex> ControlPlane::IngestLockOf(const std::string& run_id) {
  std::lock_guard lock(ingest_locks_mutex_);
  std::shared_ptr<std::mutex> held = ingest_locks_[run_id].lock();
  if (!held) {
    held = std::make_shared<std::mutex>();
    ingest_locks_[run_id] = held;
  }
  // Runs nobody ingests right now are forgotten: the map holds the appends in flight.
  std::erase_if(ingest_locks_, [](const auto& entry) { return entry.second.expired(); });
  return held;
}

std::optional<int> RecordChannelNode(std::string_view path) {
  if (path == kRunRecordsPath) return 0;
  std::string_view rest = path;
  constexpr std::string_view kPrefix = "system_logs/node_";
  constexpr std::string_view kSuffix = "/run_records.jsonl";
  if (rest.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  rest.remove_prefix(kPrefix.size());
  if (rest.size() <= kSuffix.size() || rest.substr(rest.size() - kSuffix.size()) != kSuffix) {
    return std::nullopt;
  }
  rest.remove_suffix(kSuffix.size());
  int node_rank = 0;
  if (!absl::SimpleAtoi(absl::string_view(rest.data(), rest.size()), &node_rank) || node_rank <= 0 ||
      common::NodeFilePath(node_rank, kRunRecordsPath) != path) {
    return std::nullopt;
  }
  return node_rank;
}

absl::Status ControlPlane::IngestRunRecords(const std::string& run_id, int node_rank,
                                            bool* runs_changed) {
  // One ingestion of a run at a time, every channel: the run's limits count them all.
  const std::shared_ptr<std::mutex> run_lock = IngestLockOf(run_id);
  std::lock_guard lock(*run_lock);
  const std::string records_path = common::NodeFilePath(node_rank, kRunRecordsPath);
  ASSIGN_OR_RETURN(const fs::path path, files_->Locate(run_id, records_path));
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0 && errno == ENOENT) return absl::OkStatus();
  if (fd.get() < 0) {
    return absl::InternalError(absl::StrCat("run ", run_id, ": cannot open ", records_path, ": ",
                                            std::strerror(errno)));
  }
  while (true) {
    ASSIGN_OR_RETURN(const int64_t ingested, store_->NodeRecordsIngested(run_id, node_rank));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
      return absl::InternalError(absl::StrCat("run ", run_id, ": cannot stat ", records_path,
                                              ": ", std::strerror(errno)));
    }
    const auto size = static_cast<int64_t>(st.st_size);
    // Nothing new; or a resend after a truncation that has not come past what was read.
    if (size <= ingested) return absl::OkStatus();
    std::string window(static_cast<size_t>(std::min(size - ingested, kWindowBytes)), '\0');
    RETURN_IF_ERROR(ReadFully(fd.get(), ingested, &window));
    const size_t last_newline = window.rfind('\n');

    std::string errors;
    int refused = 0;
    bool cancel = false;
    if (last_newline == std::string::npos) {
      // No line end yet: the rest of the line is still coming, unless the line is already
      // longer than a line may be. Then what there is of it is skipped (and what follows
      // up to its end will be refused as not JSON).
      if (window.size() <= kMaxRecordLineBytes) return absl::OkStatus();
      RETURN_IF_ERROR(store_->SetNodeRecordsIngested(
          run_id, node_rank, ingested + static_cast<int64_t>(window.size())));
      errors = absl::StrCat(records_path, " byte ", ingested, ": a line longer than ",
                            kMaxRecordLineBytes, " bytes (1 MiB, the most a line may have); its ",
                            window.size(), " bytes so far are skipped\n");
      refused = 1;
    } else {
      const std::string_view lines = std::string_view(window).substr(0, last_newline + 1);
      const RecordLimits limits{options_.max_metric_values_per_run, options_.max_children_per_run,
                                options_.max_tags_per_run};
      RunEndings endings;
      endings.transition_at = [this](Store& store, const std::string& id, RunStatus status,
                                     int64_t time_ms) {
        return TransitionAt(store, id, status, time_ms);
      };
      endings.end_children = [this](Store& store, const std::string& parent, RunStatus status) {
        return EndChildren(store, parent, status);
      };
      std::optional<RecordPass> pass;
      bool raced = false;
      RETURN_IF_ERROR(store_->InTransaction([&](Store& txn) -> absl::Status {
        // Another process on the same store (local mode) may have read these lines since.
        ASSIGN_OR_RETURN(const int64_t still, txn.NodeRecordsIngested(run_id, node_rank));
        raced = still != ingested;
        if (raced) return absl::OkStatus();
        pass.emplace(txn, run_id, limits, clock_, endings, node_rank);
        return pass->Apply(ingested, lines);
      }));
      if (raced) continue;
      Log()->debug("run {}: {} bytes of records ingested ({} metric values)", run_id, lines.size(),
                   pass->values());
      errors = pass->Explanations();
      refused = pass->refused();
      cancel = pass->cancel_asked();
      *runs_changed = *runs_changed || pass->runs_changed();
      window.resize(last_newline + 1);
    }
    if (refused > 0) {
      Log()->warn("run {}: {} record line(s) refused; see its {}", run_id, refused,
                  kRunApiErrorsPath);
      // Explanations only: the records were dealt with either way.
      if (absl::Status explained = AppendRunApiErrors(files_, run_id, errors); !explained.ok()) {
        Log()->warn("run {}: cannot write {}: {}", run_id, kRunApiErrorsPath, explained.ToString());
      }
    }
    if (cancel) {
      // After the transaction, as `runyard cancel` would: the run's holder stops it.
      if (absl::Status canceled = Cancel(run_id).status(); !canceled.ok()) {
        // Still applied when the run ends Completed: the requested outcome is kept.
        Log()->warn("run {}: its script asked to cancel it, which failed: {}", run_id,
                    canceled.ToString());
      }
      *runs_changed = true;
    }
    if (ingested + static_cast<int64_t>(window.size()) >= size) return absl::OkStatus();
  }
}

}  // namespace runyard::server
