#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace runyard::runtime {

// Bytes [offset, offset + length) of a local file. Always `length` bytes: where the file
// is shorter than that (or gone), the rest is NUL bytes, so that what is sent after it
// still lands at the right offsets; `short_by` (optional) says how many were made up.
std::string ReadFileRange(const std::filesystem::path& file, int64_t offset, int64_t length,
                          int64_t* short_by = nullptr);

}  // namespace runyard::runtime
