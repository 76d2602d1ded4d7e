#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cli/backend.h"

namespace runyard::fakes {

// A RunBackend holding one run's metric series in memory, answering GetMetrics as the
// control plane does (summaries; a page of values from after_seq with next_seq), and
// refusing pages of more than `max_page_values` values as ResourceExhausted (what gRPC
// says of a message over its size limit). Everything else is Unimplemented.
class FakeMetricsBackend : public cli::RunBackend {
 public:
  std::string run_id = "run-1";
  std::map<std::string, std::vector<runyard::v1::MetricValue>> series;
  int max_page_values = 1'000'000;
  std::vector<runyard::v1::GetMetricsRequest> requests;  // every GetMetrics call, in order

  void AddNumbers(const std::string& name, const std::vector<double>& numbers) {
    for (double number : numbers) {
      runyard::v1::MetricValue value;
      value.set_number(number);
      value.set_kind("scalar");
      Add(name, value);
    }
  }
  void Add(const std::string& name, runyard::v1::MetricValue value) {
    auto& values = series[name];
    value.set_seq(static_cast<int64_t>(values.size()));
    values.push_back(std::move(value));
  }

  absl::StatusOr<runyard::v1::GetMetricsResponse> GetMetrics(
      const runyard::v1::GetMetricsRequest& request) override {
    requests.push_back(request);
    if (request.run_id() != run_id) return absl::NotFoundError("no run named " + request.run_id());
    const int page = request.max_values() > 0 ? std::min(request.max_values(), 100000) : 10000;
    if (request.with_values() && page > max_page_values) {
      return absl::ResourceExhaustedError("message larger than max");
    }
    runyard::v1::GetMetricsResponse response;
    response.set_next_seq(-1);
    for (const auto& [name, values] : series) {
      if (!request.name().empty() && name != request.name()) continue;
      runyard::v1::MetricSeries* one = response.add_series();
      one->set_run_id(run_id);
      one->set_name(name);
      one->set_count(static_cast<int64_t>(values.size()));
      if (!values.empty()) {
        one->set_kind(values.front().kind());
        *one->mutable_last() = values.back();
      }
      for (const auto& value : values) {
        if (value.value_case() != runyard::v1::MetricValue::kNumber) continue;
        one->set_min(one->has_numbers() ? std::min(one->min(), value.number()) : value.number());
        one->set_max(one->has_numbers() ? std::max(one->max(), value.number()) : value.number());
        one->set_has_numbers(true);
      }
      if (!request.with_values() || request.name().empty()) continue;
      const int64_t from = std::max<int64_t>(request.after_seq(), 0);
      const int64_t to = std::min<int64_t>(static_cast<int64_t>(values.size()), from + page);
      for (int64_t i = from; i < to; ++i) *one->add_values() = values[static_cast<size_t>(i)];
      if (to < static_cast<int64_t>(values.size())) response.set_next_seq(to);
    }
    return response;
  }

  absl::StatusOr<std::vector<std::string>> FindMissingBlobs(
      const std::vector<std::string>&) override {
    return Unused();
  }
  absl::Status UploadBlobs(const std::vector<std::pair<std::string, std::string>>&) override {
    return Unused();
  }
  absl::Status UploadFileBlob(const std::string&, const std::filesystem::path&,
                              const std::function<void(int64_t)>&) override {
    return Unused();
  }
  absl::Status ReadBlob(const std::string&, const std::function<void(std::string_view)>&) override {
    return Unused();
  }
  absl::StatusOr<runyard::v1::SnapshotLimits> DefaultSnapshotLimits() override { return Unused(); }
  absl::StatusOr<runyard::v1::Run> Submit(const runyard::v1::RunSpec&,
                                          const runyard::v1::SnapshotLimits&) override {
    return Unused();
  }
  absl::StatusOr<runyard::v1::Run> Get(const std::string&) override { return Unused(); }
  absl::StatusOr<std::vector<runyard::v1::Run>> List(const runyard::v1::ListRunsRequest&) override {
    return Unused();
  }
  absl::StatusOr<runyard::v1::Run> Cancel(const std::string&) override { return Unused(); }
  absl::StatusOr<std::vector<runyard::v1::FileInfo>> ListFiles(const std::string&) override {
    return Unused();
  }
  absl::Status ReadFile(const std::string&, const std::string&, int64_t,
                        const cli::FileChunkSink&) override {
    return Unused();
  }
  absl::StatusOr<runyard::v1::Run> SetTags(const runyard::v1::SetTagsRequest&) override {
    return Unused();
  }
  absl::StatusOr<std::vector<runyard::v1::ExperimentInfo>> ListExperiments(bool) override {
    return Unused();
  }
  absl::StatusOr<runyard::v1::ExperimentInfo> SetExperimentArchived(const std::string&,
                                                                    bool) override {
    return Unused();
  }
  absl::StatusOr<runyard::v1::Run> Watch(
      const std::string&, const std::string&, int64_t, const std::function<void(std::string_view)>&,
      const std::function<void(const runyard::v1::Run&)>&) override {
    return Unused();
  }

 private:
  static absl::Status Unused() { return absl::UnimplementedError("not part of this fake"); }
};

}  // namespace runyard::fakes
