#pragma once

// A server::Store that passes every call to a real store, except the methods a test names,
// which fail (with the error it gives, for as many calls as it says). InTransaction can
// fail too; when it does not, its body gets a FailingStore around the transaction, so the
// writes inside it fail by the same rules and the transaction rolls back.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "server/store.h"

namespace runyard::fakes {

class FailingStore final : public server::Store {
 public:
  explicit FailingStore(server::Store* real)
      : real_(real), failures_(std::make_shared<Failures>()) {}

  // From now on `method` ("SetUsage", "InTransaction", ...) fails with `error`: the next
  // `times` calls (> 0), or every call while `times` is negative.
  void Fail(const std::string& method, absl::Status error = absl::UnavailableError("injected"),
            int times = -1) {
    std::lock_guard lock(failures_->mutex);
    failures_->failing[method] = {std::move(error), times};
  }
  // `method` works again.
  void Heal(const std::string& method) {
    std::lock_guard lock(failures_->mutex);
    failures_->failing.erase(method);
  }
  // How many calls of `method` failed so far (inside transactions too).
  int failed(const std::string& method) const {
    std::lock_guard lock(failures_->mutex);
    auto found = failures_->failed.find(method);
    return found == failures_->failed.end() ? 0 : found->second;
  }

  absl::Status InTransaction(const std::function<absl::Status(Store& txn)>& body) override {
    if (absl::Status s = Check("InTransaction"); !s.ok()) return s;
    return real_->InTransaction([&](Store& txn) {
      FailingStore view(&txn, failures_);
      return body(view);
    });
  }

  absl::Status InsertRun(const runyard::v1::Run& run) override {
    if (absl::Status s = Check("InsertRun"); !s.ok()) return s;
    return real_->InsertRun(run);
  }
  absl::StatusOr<runyard::v1::Run> GetRun(const std::string& run_id) override {
    if (absl::Status s = Check("GetRun"); !s.ok()) return s;
    return real_->GetRun(run_id);
  }
  using Store::ListRuns;
  absl::StatusOr<std::vector<runyard::v1::Run>> ListRuns(const server::RunFilter& filter) override {
    if (absl::Status s = Check("ListRuns"); !s.ok()) return s;
    return real_->ListRuns(filter);
  }
  absl::StatusOr<bool> RunExists(const std::string& run_id) override {
    if (absl::Status s = Check("RunExists"); !s.ok()) return s;
    return real_->RunExists(run_id);
  }
  absl::Status AppendStatus(const std::string& run_id, runyard::v1::RunStatus status,
                            int64_t time_ms) override {
    if (absl::Status s = Check("AppendStatus"); !s.ok()) return s;
    return real_->AppendStatus(run_id, status, time_ms);
  }
  absl::Status SetOutcome(const std::string& run_id, bool has_exit_code, int exit_code,
                          const runyard::v1::RunError& error) override {
    if (absl::Status s = Check("SetOutcome"); !s.ok()) return s;
    return real_->SetOutcome(run_id, has_exit_code, exit_code, error);
  }
  absl::Status SetUsage(const std::string& run_id, const runyard::v1::RunUsage& usage) override {
    if (absl::Status s = Check("SetUsage"); !s.ok()) return s;
    return real_->SetUsage(run_id, usage);
  }
  absl::Status SetLease(const server::LeaseRecord& lease) override {
    if (absl::Status s = Check("SetLease"); !s.ok()) return s;
    return real_->SetLease(lease);
  }
  absl::StatusOr<server::LeaseRecord> GetLease(const std::string& run_id) override {
    if (absl::Status s = Check("GetLease"); !s.ok()) return s;
    return real_->GetLease(run_id);
  }
  absl::Status RenewLease(const std::string& run_id, int64_t expiry_ms) override {
    if (absl::Status s = Check("RenewLease"); !s.ok()) return s;
    return real_->RenewLease(run_id, expiry_ms);
  }
  absl::StatusOr<std::vector<std::string>> QueuedRuns(const std::string& pool, int limit) override {
    if (absl::Status s = Check("QueuedRuns"); !s.ok()) return s;
    return real_->QueuedRuns(pool, limit);
  }
  absl::StatusOr<std::vector<server::LeaseRecord>> ActiveLeases() override {
    if (absl::Status s = Check("ActiveLeases"); !s.ok()) return s;
    return real_->ActiveLeases();
  }
  absl::StatusOr<std::vector<std::string>> ReadyRuns(const std::string& pool, int64_t now_ms,
                                                     int limit) override {
    if (absl::Status s = Check("ReadyRuns"); !s.ok()) return s;
    return real_->ReadyRuns(pool, now_ms, limit);
  }
  absl::Status SetAttempt(const std::string& run_id, int attempt, int64_t not_before_ms) override {
    if (absl::Status s = Check("SetAttempt"); !s.ok()) return s;
    return real_->SetAttempt(run_id, attempt, not_before_ms);
  }
  absl::Status SetGangNodes(const std::string& run_id,
                            const std::vector<server::GangNodeRecord>& nodes) override {
    if (absl::Status s = Check("SetGangNodes"); !s.ok()) return s;
    return real_->SetGangNodes(run_id, nodes);
  }
  absl::StatusOr<std::vector<server::GangNodeRecord>> GangNodes(
      const std::string& run_id) override {
    if (absl::Status s = Check("GangNodes"); !s.ok()) return s;
    return real_->GangNodes(run_id);
  }
  absl::Status UpdateGangNode(const server::GangNodeRecord& node) override {
    if (absl::Status s = Check("UpdateGangNode"); !s.ok()) return s;
    return real_->UpdateGangNode(node);
  }
  absl::Status RenewGangNode(const std::string& run_id, int node_rank,
                             int64_t expiry_ms) override {
    if (absl::Status s = Check("RenewGangNode"); !s.ok()) return s;
    return real_->RenewGangNode(run_id, node_rank, expiry_ms);
  }
  absl::StatusOr<server::GangNodeRecord> FindGangNodeByLease(const std::string& lease_id) override {
    if (absl::Status s = Check("FindGangNodeByLease"); !s.ok()) return s;
    return real_->FindGangNodeByLease(lease_id);
  }
  absl::StatusOr<std::vector<server::GangNodeRecord>> ActiveGangNodes() override {
    if (absl::Status s = Check("ActiveGangNodes"); !s.ok()) return s;
    return real_->ActiveGangNodes();
  }
  absl::StatusOr<std::vector<server::RunCount>> CountRuns() override {
    if (absl::Status s = Check("CountRuns"); !s.ok()) return s;
    return real_->CountRuns();
  }
  absl::Status UpsertAgent(const server::AgentRecord& agent) override {
    if (absl::Status s = Check("UpsertAgent"); !s.ok()) return s;
    return real_->UpsertAgent(agent);
  }
  absl::StatusOr<std::string> AgentPool(const std::string& agent_id) override {
    if (absl::Status s = Check("AgentPool"); !s.ok()) return s;
    return real_->AgentPool(agent_id);
  }
  absl::Status TouchAgent(const std::string& agent_id, int64_t now_ms, bool draining) override {
    if (absl::Status s = Check("TouchAgent"); !s.ok()) return s;
    return real_->TouchAgent(agent_id, now_ms, draining);
  }
  absl::StatusOr<std::vector<server::AgentRecord>> ListAgents(const std::string& pool) override {
    if (absl::Status s = Check("ListAgents"); !s.ok()) return s;
    return real_->ListAgents(pool);
  }
  absl::StatusOr<server::AgentRecord> GetAgent(const std::string& agent_id) override {
    if (absl::Status s = Check("GetAgent"); !s.ok()) return s;
    return real_->GetAgent(agent_id);
  }
  absl::Status InsertToken(const server::TokenRecord& token) override {
    if (absl::Status s = Check("InsertToken"); !s.ok()) return s;
    return real_->InsertToken(token);
  }
  absl::StatusOr<server::TokenRecord> GetToken(const std::string& token_id) override {
    if (absl::Status s = Check("GetToken"); !s.ok()) return s;
    return real_->GetToken(token_id);
  }
  absl::StatusOr<std::vector<server::TokenRecord>> ListTokens(bool include_revoked, bool include_run_tokens) override {
    if (absl::Status s = Check("ListTokens"); !s.ok()) return s;
    return real_->ListTokens(include_revoked, include_run_tokens);
  }
  absl::Status RevokeToken(const std::string& token_id) override {
    if (absl::Status s = Check("RevokeToken"); !s.ok()) return s;
    return real_->RevokeToken(token_id);
  }
  absl::Status TouchToken(const std::string& token_id, int64_t now_ms) override {
    if (absl::Status s = Check("TouchToken"); !s.ok()) return s;
    return real_->TouchToken(token_id, now_ms);
  }
  absl::StatusOr<int64_t> DeleteExpiredTokens(runyard::v1::TokenKind kind, int64_t now_ms) override {
    if (absl::Status s = Check("DeleteExpiredTokens"); !s.ok()) return s;
    return real_->DeleteExpiredTokens(kind, now_ms);
  }
  absl::Status AppendAudit(const server::AuditRecord& event) override {
    if (absl::Status s = Check("AppendAudit"); !s.ok()) return s;
    return real_->AppendAudit(event);
  }
  absl::StatusOr<std::vector<server::AuditRecord>> ListAudit(const std::string& target, int limit) override {
    if (absl::Status s = Check("ListAudit"); !s.ok()) return s;
    return real_->ListAudit(target, limit);
  }
  absl::Status SetRunSecrets(const std::string& run_id, const std::map<std::string, std::string>& values) override {
    if (absl::Status s = Check("SetRunSecrets"); !s.ok()) return s;
    return real_->SetRunSecrets(run_id, values);
  }
  absl::StatusOr<std::map<std::string, std::string>> RunSecrets(const std::string& run_id) override {
    if (absl::Status s = Check("RunSecrets"); !s.ok()) return s;
    return real_->RunSecrets(run_id);
  }
  absl::Status DeleteRunSecrets(const std::string& run_id) override {
    if (absl::Status s = Check("DeleteRunSecrets"); !s.ok()) return s;
    return real_->DeleteRunSecrets(run_id);
  }
  absl::Status SetCanceledBy(const std::string& run_id, const std::string& actor) override {
    if (absl::Status s = Check("SetCanceledBy"); !s.ok()) return s;
    return real_->SetCanceledBy(run_id, actor);
  }
  absl::Status AppendMetrics(const std::vector<server::MetricAppend>& appends) override {
    if (absl::Status s = Check("AppendMetrics"); !s.ok()) return s;
    return real_->AppendMetrics(appends);
  }
  absl::StatusOr<std::vector<runyard::v1::MetricSeries>> MetricSummaries(
      const std::string& run_id, const std::string& name) override {
    if (absl::Status s = Check("MetricSummaries"); !s.ok()) return s;
    return real_->MetricSummaries(run_id, name);
  }
  absl::StatusOr<std::vector<runyard::v1::MetricValue>> MetricValues(const std::string& run_id,
                                                                     const std::string& name,
                                                                     int64_t after_seq,
                                                                     int limit) override {
    if (absl::Status s = Check("MetricValues"); !s.ok()) return s;
    return real_->MetricValues(run_id, name, after_seq, limit);
  }
  absl::StatusOr<int64_t> CountMetricValues(const std::string& run_id) override {
    if (absl::Status s = Check("CountMetricValues"); !s.ok()) return s;
    return real_->CountMetricValues(run_id);
  }
  absl::Status SetTags(const std::string& run_id, const std::map<std::string, std::string>& tags,
                       const std::vector<std::string>& remove) override {
    if (absl::Status s = Check("SetTags"); !s.ok()) return s;
    return real_->SetTags(run_id, tags, remove);
  }
  absl::Status AddProperties(const std::string& run_id,
                             const std::map<std::string, std::string>& properties) override {
    if (absl::Status s = Check("AddProperties"); !s.ok()) return s;
    return real_->AddProperties(run_id, properties);
  }
  absl::StatusOr<std::vector<std::string>> ChildRuns(const std::string& parent_run_id) override {
    if (absl::Status s = Check("ChildRuns"); !s.ok()) return s;
    return real_->ChildRuns(parent_run_id);
  }
  absl::StatusOr<int64_t> RecordsIngested(const std::string& run_id) override {
    if (absl::Status s = Check("RecordsIngested"); !s.ok()) return s;
    return real_->RecordsIngested(run_id);
  }
  absl::Status SetRecordsIngested(const std::string& run_id, int64_t offset) override {
    if (absl::Status s = Check("SetRecordsIngested"); !s.ok()) return s;
    return real_->SetRecordsIngested(run_id, offset);
  }
  absl::StatusOr<int64_t> NodeRecordsIngested(const std::string& run_id, int node_rank) override {
    if (absl::Status s = Check("NodeRecordsIngested"); !s.ok()) return s;
    return real_->NodeRecordsIngested(run_id, node_rank);
  }
  absl::Status SetNodeRecordsIngested(const std::string& run_id, int node_rank,
                                      int64_t offset) override {
    if (absl::Status s = Check("SetNodeRecordsIngested"); !s.ok()) return s;
    return real_->SetNodeRecordsIngested(run_id, node_rank, offset);
  }
  absl::Status SetRequestedOutcome(const std::string& run_id,
                                   const server::RequestedOutcome& outcome) override {
    if (absl::Status s = Check("SetRequestedOutcome"); !s.ok()) return s;
    return real_->SetRequestedOutcome(run_id, outcome);
  }
  absl::StatusOr<server::RequestedOutcome> GetRequestedOutcome(const std::string& run_id) override {
    if (absl::Status s = Check("GetRequestedOutcome"); !s.ok()) return s;
    return real_->GetRequestedOutcome(run_id);
  }
  absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>> ListExperiments(
      bool include_archived) override {
    if (absl::Status s = Check("ListExperiments"); !s.ok()) return s;
    return real_->ListExperiments(include_archived);
  }
  absl::Status SetExperimentArchived(const std::string& name, bool archived) override {
    if (absl::Status s = Check("SetExperimentArchived"); !s.ok()) return s;
    return real_->SetExperimentArchived(name, archived);
  }
  absl::Status SetFileSize(const std::string& run_id, const std::string& path, int64_t size,
                           int64_t now_ms) override {
    if (absl::Status s = Check("SetFileSize"); !s.ok()) return s;
    return real_->SetFileSize(run_id, path, size, now_ms);
  }
  absl::StatusOr<std::vector<runyard::v1::FileInfo>> ListFiles(const std::string& run_id) override {
    if (absl::Status s = Check("ListFiles"); !s.ok()) return s;
    return real_->ListFiles(run_id);
  }

 private:
  // Shared by a FailingStore and the views it gives transaction bodies.
  struct Failures {
    struct Failure {
      absl::Status error;
      int times = -1;  // calls left to fail; negative: every call
    };
    mutable std::mutex mutex;
    std::map<std::string, Failure, std::less<>> failing ABSL_GUARDED_BY(mutex);
    std::map<std::string, int, std::less<>> failed ABSL_GUARDED_BY(mutex);
  };

  FailingStore(server::Store* real, std::shared_ptr<Failures> failures)
      : real_(real), failures_(std::move(failures)) {}

  // The error `method` fails with now (and counts it), or OK.
  absl::Status Check(std::string_view method) {
    std::lock_guard lock(failures_->mutex);
    auto found = failures_->failing.find(method);
    if (found == failures_->failing.end()) return absl::OkStatus();
    absl::Status error = found->second.error;
    if (found->second.times > 0 && --found->second.times == 0) failures_->failing.erase(found);
    ++failures_->failed[std::string(method)];
    return error;
  }

  server::Store* real_;
  std::shared_ptr<Failures> failures_;
};

}  // namespace runyard::fakes
