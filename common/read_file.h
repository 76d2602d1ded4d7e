#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/statusor.h"

namespace runyard::common {

// A whole (small) file's bytes; NotFound when it cannot be opened.
inline absl::StatusOr<std::string> ReadWholeFile(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read " + file.string());
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// The same, empty when the file is missing (optional metadata, ignore files).
inline std::string ReadFileOrEmpty(const std::filesystem::path& file) {
  return ReadWholeFile(file).value_or("");
}

}  // namespace runyard::common
