#include "runtime/reporting_observer.h"

#include <fstream>
#include <optional>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_names.h"
#include "runtime/file_range.h"
#include "runtime/spooled_secrets.h"

namespace runyard::runtime {
namespace fs = std::filesystem;
namespace {

constexpr size_t kMaxAppendBytes = 1 << 20;  // one Append carries at most this
// One Report carries at most this many records and bytes of file data (the server takes
// messages of up to 4 MiB).
constexpr int kMaxReportItems = 64;
constexpr size_t kMaxReportBytes = 2 << 20;
// How long one record may keep failing before the sender gives up and leaves the spool
// for the next agent process to finish.
constexpr auto kGiveUpAfter = std::chrono::minutes(15);
constexpr auto kFirstDelay = std::chrono::milliseconds(100);
constexpr auto kMaxDelay = std::chrono::milliseconds(5000);

auto Log() { return common::Logger("agent"); }

bool IsTransient(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status) ||
         absl::IsResourceExhausted(status) || absl::IsAborted(status) || absl::IsInternal(status) ||
         absl::IsCancelled(status) || absl::IsUnknown(status);
}

// Full jitter: a random wait up to the current ceiling, so that agents cut off together
// do not come back together.
std::chrono::milliseconds Jittered(std::chrono::milliseconds ceiling) {
  thread_local std::mt19937 random(std::random_device{}());
  std::uniform_int_distribution<int64_t> pick(ceiling.count() / 2, ceiling.count());
  return std::chrono::milliseconds(pick(random));
}

}  // namespace

ReportingObserver::ReportingObserver(RunReporter* reporter, runyard::v1::Lease lease, CancelToken* cancel,
                                     fs::path spool_file)
    : reporter_(reporter), lease_(std::move(lease)), cancel_(cancel), spool_file_(std::move(spool_file)) {
  absl::StatusOr<std::unique_ptr<UploadSpool>> spool = UploadSpool::Open(spool_file_);
  if (!spool.ok()) {
    Log()->error("run {}: {}; spooling to a temporary file (not resumable)", lease_.run_id(),
                 std::string(spool.status().message()));
    spool_file_.clear();
    spool = UploadSpool::Open({});
  }
  spool_ = std::move(spool).value();
  // A process finishing a dead one's run masks its logs with the secrets it kept.
  if (!spool_file_.empty()) {
    if (std::vector<std::string> kept = ReadSpooledSecrets(spool_file_.string() + ".secrets"); !kept.empty()) {
      redaction_ = std::make_shared<LogRedaction>(std::move(kept));
    }
    std::ofstream(spool_file_.string() + ".lease", std::ios::binary | std::ios::trunc) << lease_.SerializeAsString();
  }
  sender_ = std::thread([this] { SendLoop(); });
}

ReportingObserver::~ReportingObserver() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  sender_.join();
}

bool ReportingObserver::Spool(const SpoolRecord& record) {
  if (absl::Status spooled = spool_->Append(record); !spooled.ok()) {
    Log()->error("run {}: {}", lease_.run_id(), std::string(spooled.message()));
    return false;
  }
  std::lock_guard lock(mutex_);
  changed_.notify_all();
  return true;
}

std::shared_ptr<LogRedaction> ReportingObserver::Redaction() {
  std::lock_guard lock(redaction_mutex_);
  return redaction_;
}

void ReportingObserver::OnSecrets(const std::vector<std::string>& secrets) {
  auto redaction = std::make_shared<LogRedaction>(secrets);
  if (redaction->active() && !spool_file_.empty()) {
    if (absl::Status kept = WriteSpooledSecrets(spool_file_.string() + ".secrets", redaction->secrets());
        !kept.ok()) {
      Log()->warn("run {}: {}; if this agent dies, the next one uploads what is left of its logs unmasked",
                  lease_.run_id(), std::string(kept.message()));
    }
  }
  std::lock_guard lock(redaction_mutex_);
  redaction_ = std::move(redaction);
}

bool ReportingObserver::SpoolBytes(const SpoolRecord& record) {
  if (on_std_log && std_log_paths.contains(record.path)) on_std_log(record.payload);
  return Spool(record);
}

void ReportingObserver::OnFileBytes(const std::string& path, int64_t offset, std::string_view data,
                                    bool truncate) {
  if (std::shared_ptr<LogRedaction> redaction = Redaction(); redaction && redaction->Applies(path)) {
    for (const SpoolRecord& record : redaction->TakeBytes(path, offset, data, truncate)) SpoolBytes(record);
    return;
  }
  if (on_std_log && std_log_paths.contains(path)) on_std_log(data);
  SpoolRecord record;
  record.kind = SpoolRecord::Kind::kFileBytes;
  record.path = path;
  record.offset = offset;
  record.truncate = truncate;
  record.payload = std::string(data);
  Spool(record);
}

bool ReportingObserver::OnFileRange(const std::string& path, const fs::path& source, int64_t offset,
                                    int64_t length) {
  // Local mode prints the script's output as it comes: those bytes are read now.
  if (on_std_log && std_log_paths.contains(path)) {
    return RunObserver::OnFileRange(path, source, offset, length);
  }
  if (std::shared_ptr<LogRedaction> redaction = Redaction(); redaction && redaction->Applies(path)) {
    bool spooled = true;
    for (const SpoolRecord& record : redaction->TakeRange(path, source, offset, length)) {
      spooled = Spool(record) && spooled;
    }
    return spooled;
  }
  SpoolRecord record;
  record.kind = SpoolRecord::Kind::kFileRange;
  record.path = path;
  record.offset = offset;
  record.source = source;
  record.length = length;
  return Spool(record);
}

void ReportingObserver::OnStatus(runyard::v1::RunStatus status) {
  runyard::v1::UpdateStatusRequest request;
  request.set_status(status);
  SpoolRecord record;
  record.kind = SpoolRecord::Kind::kStatus;
  record.payload = request.SerializeAsString();
  Spool(record);
}

void ReportingObserver::WhenAcknowledged(std::function<void()> acknowledged) {
  {
    std::lock_guard lock(mutex_);
    if (sender_stopped_) return;  // dropped: it will never be acknowledged
    // Read under the lock: the queue stays ordered by position (the spool only grows).
    const int64_t position = spool_->end();
    if (spool_->sent() < position) {
      acknowledgements_.push_back({position, std::move(acknowledged)});
      return;
    }
  }
  acknowledged();  // nothing of it is still unsent
}

void ReportingObserver::RunAcknowledged(int64_t sent) {
  std::vector<std::function<void()>> due;
  {
    std::lock_guard lock(mutex_);
    while (!acknowledgements_.empty() && acknowledgements_.front().position <= sent) {
      due.push_back(std::move(acknowledgements_.front().callback));
      acknowledgements_.pop_front();
    }
  }
  for (const auto& callback : due) callback();
}

void ReportingObserver::DropAcknowledgementsAfter(int64_t from) {
  std::lock_guard lock(mutex_);
  // Ordered by position: those past `from` are at the back.
  while (!acknowledgements_.empty() && acknowledgements_.back().position > from) {
    acknowledgements_.pop_back();
  }
}

void ReportingObserver::OnFinished(const RunOutcome& outcome) {
  runyard::v1::UpdateStatusRequest request;
  request.set_status(outcome.status);
  request.set_has_exit_code(outcome.has_exit_code);
  request.set_exit_code(outcome.exit_code);
  *request.mutable_error() = outcome.error;
  if (outcome.usage.measured()) *request.mutable_usage() = outcome.usage;
  for (const runyard::v1::RankResult& rank : outcome.ranks) *request.add_ranks() = rank;
  // The run's files are final: what was held back in case it began a secret goes first.
  if (std::shared_ptr<LogRedaction> redaction = Redaction()) {
    for (const SpoolRecord& held : redaction->Flush()) SpoolBytes(held);
  }
  SpoolRecord record;
  record.kind = SpoolRecord::Kind::kStatus;
  record.payload = request.SerializeAsString();
  Spool(record);
  {
    std::lock_guard lock(mutex_);
    finished_spooled_ = true;
  }
  Drain();
}

bool ReportingObserver::Drain() {
  const int64_t target = spool_->end();
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return spool_->sent() >= target || sender_stopped_; });
  const bool all_sent = spool_->sent() >= target;
  if (all_sent && finished_spooled_ && spool_->sent() == spool_->end()) {
    spool_->Remove();
    std::error_code ec;
    if (!spool_file_.empty()) {
      fs::remove(spool_file_.string() + ".lease", ec);
      fs::remove(spool_file_.string() + ".secrets", ec);
    }
  }
  return all_sent;
}

void ReportingObserver::ReadRange(SpoolRecord& record) {
  if (record.kind != SpoolRecord::Kind::kFileRange) return;
  int64_t short_by = 0;
  std::shared_ptr<LogRedaction> redaction = Redaction();
  record.payload = redaction && redaction->Applies(record.path)
                       ? redaction->ReadMasked(record.source, record.offset, record.length, &short_by)
                       : ReadFileRange(record.source, record.offset, record.length, &short_by);
  record.kind = SpoolRecord::Kind::kFileBytes;
  if (short_by > 0) {
    Log()->warn("run {}: {} lost {} bytes before the agent sent them (it shrank under the agent); sent as NUL bytes",
                lease_.run_id(), record.source.string(), short_by);
  }
}

std::pair<SpoolRecord, int64_t> ReportingObserver::NextBatch(int64_t position) {
  std::optional<std::pair<SpoolRecord, int64_t>> first = spool_->ReadAt(position);
  if (!first) return {SpoolRecord{}, position};
  auto [batch, next] = std::move(*first);
  ReadRange(batch);
  if (batch.kind != SpoolRecord::Kind::kFileBytes) return {std::move(batch), next};
  // Contiguous bytes of the same file ride in the same Append.
  while (batch.payload.size() < kMaxAppendBytes) {
    std::optional<std::pair<SpoolRecord, int64_t>> more = spool_->ReadAt(next);
    if (!more) break;
    SpoolRecord& record = more->first;
    const int64_t size = record.kind == SpoolRecord::Kind::kFileRange ? record.length
                                                                         : static_cast<int64_t>(record.payload.size());
    if (record.kind == SpoolRecord::Kind::kStatus || record.truncate || record.path != batch.path ||
        record.offset != batch.offset + static_cast<int64_t>(batch.payload.size()) ||
        static_cast<int64_t>(batch.payload.size()) + size > static_cast<int64_t>(kMaxAppendBytes)) {
      break;
    }
    ReadRange(record);  // only once it is known to ride in this batch
    batch.payload.append(record.payload);
    next = more->second;
  }
  return {std::move(batch), next};
}

ReportingObserver::PendingReport ReportingObserver::NextReport(int64_t position) {
  PendingReport report;
  report.start = position;
  size_t bytes = 0;
  // A batch carries at most kMaxAppendBytes: one more always fits while this holds.
  while (static_cast<int>(report.records.size()) < kMaxReportItems && bytes + kMaxAppendBytes <= kMaxReportBytes) {
    const int64_t at = report.ends.empty() ? position : report.ends.back();
    auto [record, next] = NextBatch(at);
    if (next == at) break;  // nothing more (or unreadable)
    bytes += record.payload.size();
    report.records.push_back(std::move(record));
    report.ends.push_back(next);
  }
  return report;
}

void ReportingObserver::SendLoop() {
  int64_t position = spool_->sent();
  int64_t rewound_at = -1;  // a gap is answered by sending everything again, once per place
  // While reports keep failing (transiently): since when, how often, the backoff ceiling.
  std::optional<std::chrono::steady_clock::time_point> failing_since;
  int attempts = 0;
  auto ceiling = std::chrono::duration_cast<std::chrono::milliseconds>(kFirstDelay);
  while (true) {
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return position < spool_->end() || stop_; });
      if (position >= spool_->end()) return;  // stopping with nothing left
    }
    // Rebuilt after every failure: what piled up meanwhile goes in the same report.
    PendingReport report = NextReport(position);
    if (report.records.empty()) {  // unreadable: nothing more can be sent
      Log()->error("run {}: the upload spool is unreadable at {}", lease_.run_id(), position);
      break;
    }
    size_t applied = 0;
    std::optional<int64_t> skipped_from;
    absl::Status failure;
    const Sent sent = SendReport(report, &applied, &skipped_from, &failure);
    // Before the callbacks run: those past a skipped record claim bytes the control plane
    // never took.
    if (skipped_from) DropAcknowledgementsAfter(*skipped_from);
    if (applied > 0) {
      position = report.ends[applied - 1];
      spool_->MarkSent(position);
      if (attempts > 0) Log()->info("run {}: reports went through after {} attempts", lease_.run_id(), attempts + 1);
      failing_since.reset();
      attempts = 0;
      ceiling = std::chrono::duration_cast<std::chrono::milliseconds>(kFirstDelay);
      {
        std::lock_guard lock(mutex_);
        changed_.notify_all();
      }
      RunAcknowledged(position);
    }
    if (sent == Sent::kDone) continue;
    if (sent == Sent::kGap) {
      const SpoolRecord& lacking = report.records[applied];
      if (rewound_at != position) {
        Log()->warn("run {}: the server lacks bytes of {} before {}: sending the run's files again",
                    lease_.run_id(), lacking.path, lacking.offset);
        rewound_at = position;
        position = 0;
      } else {  // a second gap at the same place: skip the record (its bytes are lost)
        DropAcknowledgementsAfter(position);
        position = report.ends[applied];
        spool_->MarkSent(position);
      }
      continue;
    }
    if (sent == Sent::kLeaseLost) break;
    // kRetry: a transient failure of record `applied`; back off, then send from there.
    const std::string what = Describe(report.records[applied]);
    if (!failing_since) failing_since = std::chrono::steady_clock::now();
    ++attempts;
    if (attempts == 1 || attempts % 10 == 0) {
      Log()->warn("run {}: {} failed ({}); retrying (spooled on disk meanwhile)", lease_.run_id(), what,
                  std::string(failure.message()));
    }
    std::unique_lock lock(mutex_);
    if (std::chrono::steady_clock::now() - *failing_since > kGiveUpAfter || stop_) {
      Log()->error("run {}: {} still failing: {}; left in the spool for the next agent start", lease_.run_id(),
                   what, failure.ToString());
      break;
    }
    changed_.wait_for(lock, Jittered(ceiling), [&] { return stop_; });
    ceiling = std::min(ceiling * 2, std::chrono::duration_cast<std::chrono::milliseconds>(kMaxDelay));
  }
  std::lock_guard lock(mutex_);
  sender_stopped_ = true;
  acknowledgements_.clear();  // never acknowledged: dropped (see WhenAcknowledged)
  changed_.notify_all();
}

std::string ReportingObserver::Describe(const SpoolRecord& record) {
  if (record.kind != SpoolRecord::Kind::kStatus) return "append to " + record.path;
  runyard::v1::UpdateStatusRequest request;
  request.ParseFromString(record.payload);
  return "status " + common::StatusName(request.status());
}

void ReportingObserver::AddItem(const SpoolRecord& record, runyard::v1::ReportRequest& request) {
  runyard::v1::ReportItem* item = request.add_items();
  if (record.kind == SpoolRecord::Kind::kStatus) {
    runyard::v1::UpdateStatusRequest* status = item->mutable_status();
    status->ParseFromString(record.payload);  // cannot fail: we wrote it
    *status->mutable_lease() = lease_;
    return;
  }
  runyard::v1::AppendRequest* append = item->mutable_append();
  *append->mutable_lease() = lease_;
  append->set_path(record.path);
  append->set_offset(record.offset);
  append->set_data(record.payload);
  append->set_truncate(record.truncate);
}

ReportingObserver::Sent ReportingObserver::SendReport(const PendingReport& report, size_t* applied,
                                                     std::optional<int64_t>* skipped_from,
                                                     absl::Status* failure) {
  *applied = 0;
  while (*applied < report.records.size()) {
    runyard::v1::ReportRequest request;
    for (size_t i = *applied; i < report.records.size(); ++i) AddItem(report.records[i], request);
    absl::StatusOr<runyard::v1::ReportResponse> response = reporter_->Report(request);
    absl::Status refused;
    if (!response.ok()) {
      refused = response.status();  // nothing is known to be applied
    } else {
      if (response->cancel_requested()) cancel_->RequestCancel(CancelToken::Reason::kUserCancel);
      *applied += static_cast<size_t>(response->applied());
      if (*applied >= report.records.size()) break;
      refused = absl::Status(static_cast<absl::StatusCode>(response->error_code()), response->error_message());
      if (refused.ok()) refused = absl::UnavailableError("the control plane applied part of a report and said nothing more");
    }
    if (absl::IsOutOfRange(refused)) return Sent::kGap;
    if (absl::IsFailedPrecondition(refused) || absl::IsNotFound(refused)) {
      Log()->warn("run {}: {} refused: {}; stopping the run", lease_.run_id(), Describe(report.records[*applied]),
                  std::string(refused.message()));
      cancel_->RequestCancel(CancelToken::Reason::kLeaseLost);
      return Sent::kLeaseLost;
    }
    if (IsTransient(refused)) {
      *failure = refused;
      return Sent::kRetry;
    }
    Log()->error("run {}: {} failed: {}; skipped", lease_.run_id(), Describe(report.records[*applied]),
                 refused.ToString());
    if (!*skipped_from) *skipped_from = *applied == 0 ? report.start : report.ends[*applied - 1];
    ++*applied;  // the control plane will never take it; the rest still goes
  }
  return Sent::kDone;
}

absl::StatusOr<runyard::v1::ReportResponse> RunReporter::Report(const runyard::v1::ReportRequest& request) {
  runyard::v1::ReportResponse response;
  for (const runyard::v1::ReportItem& item : request.items()) {
    absl::Status refused;
    if (item.has_append()) {
      refused = Append(item.append()).status();
    } else {
      absl::StatusOr<runyard::v1::UpdateStatusResponse> updated = UpdateStatus(item.status());
      refused = updated.status();
      if (updated.ok() && updated->cancel_requested()) response.set_cancel_requested(true);
    }
    if (!refused.ok()) {
      if (response.applied() == 0) return refused;  // as the one call would have failed
      response.set_error_code(static_cast<int32_t>(refused.code()));
      response.set_error_message(std::string(refused.message()));
      break;
    }
    response.set_applied(response.applied() + 1);
  }
  return response;
}

}  // namespace runyard::runtime
