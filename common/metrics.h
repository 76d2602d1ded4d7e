#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace runyard::common {

// The Content-Type of MetricsRegistry::Render()'s text, for the /metrics response.
inline constexpr char kPrometheusTextContentType[] = "text/plain; version=0.0.4; charset=utf-8";

enum class MetricType { kCounter, kGauge };

// Label names to values. A std::map, so a sample's labels always render in one order.
using MetricLabels = std::map<std::string, std::string>;

// The counters and gauges of one process, rendered in the Prometheus text exposition
// format 0.0.4 for a /metrics endpoint. Thread-safe: any thread may update it while
// another renders.
//
// Misuse (an undescribed family, a bad name, a counter set or decreased) is refused with
// an error and changes nothing. Update call sites may drop that status: it can only
// come from a bug, and Describe() at startup is where names get checked.
class MetricsRegistry {
 public:
  // Runs at every Render(), before the text is made, to set values computed on demand
  // (a queue's length, the age of a heartbeat). It may call Add/Set/ClearSamples; it must
  // not call Render or AddCollector (that would deadlock).
  using Collector = std::function<void(MetricsRegistry&)>;

  // Declares a family: its name (matching [a-zA-Z_:][a-zA-Z0-9_:]*), type and HELP text.
  // Describing it again with the same type and help is fine; with another, an error.
  absl::Status Describe(std::string_view name, MetricType type, std::string_view help);

  // Adds `delta` to a sample of a counter (delta >= 0) or of a gauge (any finite delta).
  // A sample not seen before starts at 0.
  absl::Status Add(std::string_view name, const MetricLabels& labels, double delta = 1);

  // Sets a sample of a gauge.
  absl::Status Set(std::string_view name, const MetricLabels& labels, double value);

  // Drops every sample of a family and keeps its description: for a collector whose
  // label sets come and go (one sample per pool, say), which clears and sets them again.
  absl::Status ClearSamples(std::string_view name);

  void AddCollector(Collector collector);

  // Runs the collectors, then returns the text: families ordered by name, each with one
  // # HELP and one # TYPE line (also while it has no sample, which Prometheus accepts),
  // then its samples ordered by their labels.
  std::string Render();

 private:
  struct Family {
    MetricType type;
    std::string help;
    std::map<MetricLabels, double> samples;
  };

  // The family `name`, checked against `labels`; an error if either is wrong.
  absl::StatusOr<Family*> FindFamily(std::string_view name, const MetricLabels& labels);

  // Taken first by Render: one scrape at a time runs the collectors.
  std::mutex render_mutex_;
  std::vector<Collector> collectors_;  // guarded by render_mutex_

  std::mutex mutex_;
  std::map<std::string, Family, std::less<>> families_;  // guarded by mutex_
};

// MetricsRegistry's updates for call sites whose names and labels are constants, where a
// refusal can only be a bug (Describe at startup is where names get checked): the update
// is dropped and logged on `component`'s log, the first failure of each metric once per
// process, not at every scrape.
class CheckedMetrics {
 public:
  CheckedMetrics(MetricsRegistry& registry, std::string component)
      : registry_(registry), component_(std::move(component)) {}

  void Describe(std::string_view name, MetricType type, std::string_view help);
  void Add(std::string_view name, const MetricLabels& labels, double delta = 1);
  void Set(std::string_view name, const MetricLabels& labels, double value);
  void ClearSamples(std::string_view name);

 private:
  void Check(std::string_view name, const absl::Status& status);

  MetricsRegistry& registry_;
  const std::string component_;
};

}  // namespace runyard::common
