#include "common/metrics.h"

#include <charconv>
#include <cmath>
#include <set>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "common/logging.h"

namespace runyard::common {
namespace {

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsMetricName(std::string_view name) {
  if (name.empty() || IsAsciiDigit(name.front())) return false;
  for (char c : name) {
    if (!IsAsciiLetter(c) && !IsAsciiDigit(c) && c != '_' && c != ':') return false;
  }
  return true;
}

// [a-zA-Z_][a-zA-Z0-9_]*, and not "__..." (reserved for Prometheus itself).
bool IsLabelName(std::string_view name) {
  if (name.empty() || IsAsciiDigit(name.front()) || name.starts_with("__")) return false;
  for (char c : name) {
    if (!IsAsciiLetter(c) && !IsAsciiDigit(c) && c != '_') return false;
  }
  return true;
}

// HELP text escapes backslash and newline; label values also the double quote.
std::string Escape(std::string_view text, bool quote) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

// What Prometheus parses: integers (exact in a double) without exponent or fraction,
// other numbers in their shortest round-trip form, and NaN, +Inf, -Inf spelled so.
std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == 0) return "0";                                  // also -0
  constexpr double kLargestExactInteger = 9007199254740992.0;  // 2^53
  char buffer[64];
  std::to_chars_result result;
  if (value == std::trunc(value) && std::fabs(value) <= kLargestExactInteger) {
    result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed);
  } else {
    result = std::to_chars(buffer, buffer + sizeof buffer, value);
  }
  return std::string(buffer, result.ptr);
}

const char* TypeName(MetricType type) { return type == MetricType::kCounter ? "counter" : "gauge"; }

}  // namespace

absl::Status MetricsRegistry::Describe(std::string_view name, MetricType type,
                                       std::string_view help) {
  if (!IsMetricName(name)) {
    return absl::InvalidArgumentError("metric name '" + std::string(name) +
                                      "' does not match [a-zA-Z_:][a-zA-Z0-9_:]*");
  }
  std::lock_guard lock(mutex_);
  auto [it, inserted] =
      families_.try_emplace(std::string(name), Family{type, std::string(help), {}});
  if (!inserted && (it->second.type != type || it->second.help != help)) {
    return absl::AlreadyExistsError("metric '" + std::string(name) +
                                    "' is already described with another type or help");
  }
  return absl::OkStatus();
}

absl::StatusOr<MetricsRegistry::Family*> MetricsRegistry::FindFamily(std::string_view name,
                                                                     const MetricLabels& labels) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    return absl::NotFoundError("metric '" + std::string(name) + "' is not described");
  }
  for (const auto& [label, value] : labels) {
    if (!IsLabelName(label)) {
      return absl::InvalidArgumentError(
          "metric '" + std::string(name) + "': label name '" + label +
          "' does not match [a-zA-Z_][a-zA-Z0-9_]* or starts with __");
    }
  }
  return &it->second;
}

absl::Status MetricsRegistry::Add(std::string_view name, const MetricLabels& labels, double delta) {
  std::lock_guard lock(mutex_);
  absl::StatusOr<Family*> family = FindFamily(name, labels);
  if (!family.ok()) return family.status();
  if (!std::isfinite(delta) || ((*family)->type == MetricType::kCounter && delta < 0)) {
    return absl::InvalidArgumentError("metric '" + std::string(name) + "': cannot add " +
                                      FormatValue(delta) + " to a " + TypeName((*family)->type));
  }
  (*family)->samples[labels] += delta;
  return absl::OkStatus();
}

absl::Status MetricsRegistry::Set(std::string_view name, const MetricLabels& labels, double value) {
  std::lock_guard lock(mutex_);
  absl::StatusOr<Family*> family = FindFamily(name, labels);
  if (!family.ok()) return family.status();
  if ((*family)->type != MetricType::kGauge) {
    return absl::InvalidArgumentError("metric '" + std::string(name) +
                                      "' is a counter: it can only be added to");
  }
  (*family)->samples[labels] = value;
  return absl::OkStatus();
}

absl::Status MetricsRegistry::ClearSamples(std::string_view name) {
  std::lock_guard lock(mutex_);
  absl::StatusOr<Family*> family = FindFamily(name, {});
  if (!family.ok()) return family.status();
  (*family)->samples.clear();
  return absl::OkStatus();
}

void MetricsRegistry::AddCollector(Collector collector) {
  std::lock_guard lock(render_mutex_);
  collectors_.push_back(std::move(collector));
}

std::string MetricsRegistry::Render() {
  std::lock_guard render_lock(render_mutex_);
  for (const Collector& collector : collectors_) collector(*this);

  std::lock_guard lock(mutex_);
  std::string text;
  for (const auto& [name, family] : families_) {
    text += "# HELP " + name + " " + Escape(family.help, /*quote=*/false) + "\n";
    text += "# TYPE " + name + " " + TypeName(family.type) + "\n";
    for (const auto& [labels, value] : family.samples) {
      text += name;
      if (!labels.empty()) {
        text += '{';
        const char* separator = "";
        for (const auto& [label, label_value] : labels) {
          text += separator + label + "=\"" + Escape(label_value, /*quote=*/true) + "\"";
          separator = ",";
        }
        text += '}';
      }
      text += " " + FormatValue(value) + "\n";
    }
  }
  return text;
}

namespace {

// The metrics whose failure was logged already.
class LoggedMetricFailures {
 public:
  // True the first time `metric` is named.
  bool First(std::string_view metric) {
    std::lock_guard lock(mutex_);
    return logged_.emplace(metric).second;
  }

 private:
  std::mutex mutex_;
  std::set<std::string, std::less<>> logged_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace

void CheckedMetrics::Describe(std::string_view name, MetricType type, std::string_view help) {
  Check(name, registry_.Describe(name, type, help));
}

void CheckedMetrics::Add(std::string_view name, const MetricLabels& labels, double delta) {
  Check(name, registry_.Add(name, labels, delta));
}

void CheckedMetrics::Set(std::string_view name, const MetricLabels& labels, double value) {
  Check(name, registry_.Set(name, labels, value));
}

void CheckedMetrics::ClearSamples(std::string_view name) {
  Check(name, registry_.ClearSamples(name));
}

void CheckedMetrics::Check(std::string_view name, const absl::Status& status) {
  static LoggedMetricFailures* const logged = new LoggedMetricFailures;  // never destroyed
  if (status.ok() || !logged->First(name)) return;
  Logger(component_)
      ->error("metrics: {} (a bug; later errors of {} are not logged)", status.ToString(), name);
}

}  // namespace runyard::common
