#include "cli/sparkline.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string_view>

namespace runyard::cli {
namespace {

constexpr std::array<std::string_view, 8> kBlocks = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};

}  // namespace

std::vector<double> Downsample(const std::vector<double>& values, int max_columns) {
  const size_t columns = static_cast<size_t>(std::max(max_columns, 1));
  if (values.size() <= columns) return values;
  std::vector<double> means;
  means.reserve(columns);
  const size_t share = values.size() / columns;
  const size_t extra = values.size() % columns;
  size_t at = 0;
  for (size_t column = 0; column < columns; ++column) {
    const size_t take = share + (column < extra ? 1 : 0);
    double sum = 0;
    size_t finite = 0;
    for (size_t i = at; i < at + take; ++i) {
      if (std::isfinite(values[i])) {
        sum += values[i];
        ++finite;
      }
    }
    means.push_back(finite > 0 ? sum / static_cast<double>(finite) : NAN);
    at += take;
  }
  return means;
}

std::string Sparkline(const std::vector<double>& values, int max_columns) {
  const std::vector<double> shown = Downsample(values, max_columns);
  double low = INFINITY;
  double high = -INFINITY;
  for (double value : shown) {
    if (!std::isfinite(value)) continue;
    low = std::min(low, value);
    high = std::max(high, value);
  }
  std::string line;
  for (double value : shown) {
    if (!std::isfinite(value)) {
      line += ' ';
    } else if (high <= low) {
      line += kBlocks[3];
    } else {
      const double position = (value - low) / (high - low);  // 0..1
      const auto level = std::clamp<long>(std::lround(position * 7.0), 0, 7);
      line += kBlocks[static_cast<size_t>(level)];
    }
  }
  return line;
}

}  // namespace runyard::cli
