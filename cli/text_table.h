#pragma once

#include <string>
#include <vector>

namespace runyard::cli {

// Rows (the first one the header) as text: each column as wide as its widest cell, two
// blanks between columns, the last column unpadded (no trailing blanks).
std::string AlignedTable(const std::vector<std::vector<std::string>>& rows);

}  // namespace runyard::cli
