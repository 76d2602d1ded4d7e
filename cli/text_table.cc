#include "cli/text_table.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace runyard::cli {

std::string AlignedTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string text;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&text, i + 1 < row.size()
                                 ? absl::StrFormat("%-*s  ", static_cast<int>(widths[i]), row[i])
                                 : row[i]);
    }
    absl::StrAppend(&text, "\n");
  }
  return text;
}

}  // namespace runyard::cli
