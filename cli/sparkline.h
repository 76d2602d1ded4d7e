#pragma once

#include <string>
#include <vector>

namespace runyard::cli {

// A terminal sparkline of `values` in the eight block characters ▁▂▃▄▅▆▇█, lowest value
// at ▁ and highest at █; a flat series is drawn at ▄. More values than `max_columns` are
// downsampled evenly: each column is the mean of an equal share of the values, in order.
// A non-finite value (NaN, inf) is a space. No values: an empty string.
std::string Sparkline(const std::vector<double>& values, int max_columns = 40);

// The values a sparkline of `max_columns` shows: `values` itself when it fits, else the
// mean of each column's share (the first `count % max_columns` columns take one more).
std::vector<double> Downsample(const std::vector<double>& values, int max_columns);

}  // namespace runyard::cli
