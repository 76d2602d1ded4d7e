#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace runyard::cli {

// What `runyard login` keeps so later commands reach the server without flags.
struct Credentials {
  std::string server;   // host:port
  std::string token;    // a user token; never printed
  std::string ca_file;  // absolute path; empty: the system's roots
  bool insecure = false;
};

// $XDG_CONFIG_HOME/runyard/credentials, else ~/.config/runyard/credentials; empty when
// neither XDG_CONFIG_HOME nor HOME is set.
std::filesystem::path DefaultCredentialsFile();

// The file as login wrote it (a YAML mapping of the fields above); nothing when it does
// not exist. A file that cannot be parsed, has an unknown key or lacks server or token is
// an InvalidArgument naming the file.
absl::StatusOr<std::optional<Credentials>> ReadCredentials(const std::filesystem::path& file);

// Writes the file 0600 in a 0700 folder, atomically (temp file and rename).
absl::Status WriteCredentials(const std::filesystem::path& file, const Credentials& credentials);

// Removes the file; false when there was none.
absl::StatusOr<bool> RemoveCredentials(const std::filesystem::path& file);

}  // namespace runyard::cli
