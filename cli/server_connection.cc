#include "cli/server_connection.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cli/credentials_file.h"
#include "common/read_file.h"

namespace runyard::cli {

EnvironmentLookup ProcessEnvironment() {
  return [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') return std::nullopt;
    return std::string(value);
  };
}

absl::StatusOr<std::string> ReadTokenFile(const std::filesystem::path& file) {
  absl::StatusOr<std::string> text = common::ReadWholeFile(file);
  if (!text.ok()) return absl::InvalidArgumentError("cannot read the token file " + file.string());
  std::string token(absl::StripAsciiWhitespace(*text));
  if (token.empty()) return absl::InvalidArgumentError("the token file " + file.string() + " is empty");
  return token;
}

ServerConnection ResolveConnection(const ConnectionFlags& flags, const EnvironmentLookup& environment,
                                   const std::filesystem::path& credentials_file) {
  ServerConnection connection;
  connection.server = !flags.server.empty() ? flags.server : environment("RUNYARD_SERVER").value_or("");
  if (!flags.token_file.empty()) {
    absl::StatusOr<std::string> token = ReadTokenFile(flags.token_file);
    if (token.ok()) {
      connection.token = *token;
      connection.token_origin = "--token-file " + flags.token_file;
    } else {
      connection.problem = token.status();
    }
  } else if (std::optional<std::string> token = environment("RUNYARD_TOKEN")) {
    connection.token = *token;
    connection.token_origin = "RUNYARD_TOKEN";
  }
  connection.ca_file = !flags.ca_file.empty() ? flags.ca_file : environment("RUNYARD_CA_FILE").value_or("");
  const bool insecure_given = flags.insecure || environment("RUNYARD_INSECURE").has_value();
  connection.insecure = flags.insecure || environment("RUNYARD_INSECURE").value_or("") == "1";

  // The file fills in only what is still missing, and only for its own server.
  const bool need_file = connection.server.empty() || connection.token_origin.empty();
  if (!need_file || !connection.problem.ok()) return connection;
  absl::StatusOr<std::optional<Credentials>> saved = ReadCredentials(credentials_file);
  if (!saved.ok()) {
    connection.problem = saved.status();
    return connection;
  }
  if (!saved->has_value()) return connection;
  const Credentials& file = **saved;
  if (connection.server.empty()) connection.server = file.server;
  if (connection.server != file.server) return connection;
  if (connection.token_origin.empty()) {
    connection.token = file.token;
    connection.token_origin = credentials_file.string();
  }
  if (connection.ca_file.empty()) connection.ca_file = file.ca_file;
  if (!insecure_given) connection.insecure = file.insecure;
  return connection;
}

common::ChannelOptions ChannelOptionsOf(const ServerConnection& connection) {
  common::ChannelOptions options;
  options.address = connection.server;
  options.insecure_plaintext = connection.insecure;
  options.ca_file = connection.ca_file;
  options.token = std::make_shared<common::TokenSource>(connection.token);
  return options;
}

}  // namespace runyard::cli
