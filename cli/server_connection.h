#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/grpc_channel.h"

namespace runyard::cli {

// How the command line says to reach the server.
struct ConnectionFlags {
  std::string server;      // --server
  std::string token_file;  // --token-file: a file holding the token (never the token itself)
  std::string ca_file;     // --ca-file
  bool insecure = false;   // --insecure: plaintext, no TLS
};

// Where and how the CLI reaches runyard-server, from the flags, then the environment
// (RUNYARD_SERVER, RUNYARD_TOKEN, RUNYARD_CA_FILE, RUNYARD_INSECURE=1), then the
// credentials file `runyard login` wrote. The file's token, CA and insecure setting are
// used only for the server the file names: a token is never sent to another server.
struct ServerConnection {
  std::string server;        // empty: no server (local runs only)
  std::string token;         // never printed; empty: none
  std::string token_origin;  // where the token came from, for errors: "RUNYARD_TOKEN", ...
  std::string ca_file;
  bool insecure = false;
  // A credentials file or --token-file that could not be read: every remote command
  // fails with it, local ones do not care.
  absl::Status problem;
};

// Reads a variable of the environment; nothing when unset or empty.
using EnvironmentLookup = std::function<std::optional<std::string>(const char* name)>;
EnvironmentLookup ProcessEnvironment();

ServerConnection ResolveConnection(const ConnectionFlags& flags, const EnvironmentLookup& environment,
                                   const std::filesystem::path& credentials_file);

// What common::ServerChannel takes; the token in a TokenSource of its own.
common::ChannelOptions ChannelOptionsOf(const ServerConnection& connection);

// The token in `file` (surrounding whitespace dropped); InvalidArgument naming the file
// when it cannot be read or is empty.
absl::StatusOr<std::string> ReadTokenFile(const std::filesystem::path& file);

}  // namespace runyard::cli
