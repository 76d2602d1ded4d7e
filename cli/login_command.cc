// `runyard login`, `runyard logout`, `runyard whoami`: the user's credentials for a server.
// The token comes from a file or stdin, never from the command line, and is never printed.
#include <filesystem>
#include <iostream>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cli/access_client.h"
#include "cli/access_listing.h"
#include "cli/command_support.h"
#include "cli/commands.h"
#include "cli/credentials_file.h"
#include "cli/render.h"

namespace runyard::cli {
namespace {

absl::StatusOr<std::string> TokenFromStdin() {
  std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  std::string token(absl::StripAsciiWhitespace(text));
  if (token.empty()) return absl::InvalidArgumentError("--token-stdin: no token on stdin");
  return token;
}

// "TLS (CA /etc/runyard/ca.pem)", "TLS (the system's CAs)", "plaintext (insecure)".
std::string TransportText(const ServerConnection& connection) {
  if (connection.insecure) return "plaintext (insecure)";
  return connection.ca_file.empty() ? "TLS (the system's CAs)" : "TLS (CA " + connection.ca_file + ")";
}

// The connection login checks: its flags over the environment and any saved file (whose
// CA and insecure setting a new login to the same server keeps), with the token given to
// login. A saved file that cannot be read is about to be replaced, so it is left out.
absl::StatusOr<ServerConnection> LoginConnection(const LoginOptions& options) {
  absl::StatusOr<std::string> token =
      options.token_stdin ? TokenFromStdin() : ReadTokenFile(options.flags.token_file);
  if (!token.ok()) return token.status();
  ConnectionFlags flags = options.flags;
  flags.token_file.clear();
  ServerConnection connection = ResolveConnection(flags, ProcessEnvironment(), DefaultCredentialsFile());
  if (!connection.problem.ok()) {
    std::cerr << "runyard: " << connection.problem.message() << "; login replaces it\n";
    connection = ResolveConnection(flags, ProcessEnvironment(), {});
  }
  connection.token = *token;
  connection.token_origin = options.token_stdin ? "stdin" : "--token-file " + options.flags.token_file;
  if (connection.server.empty()) return absl::InvalidArgumentError("login needs --server HOST:PORT");
  return connection;
}

}  // namespace

int LoginCommand(const GlobalOptions& global, const LoginOptions& options) {
  if (options.flags.token_file.empty() == !options.token_stdin) {
    return Fail(absl::InvalidArgumentError("login takes the token from --token-file FILE or --token-stdin (one of them)"));
  }
  absl::StatusOr<ServerConnection> connection = LoginConnection(options);
  if (!connection.ok()) return Fail(connection.status());
  // The kind is spelled in the token ("ry<k>_..."): a join or agent token is told apart
  // before the server refuses it with less helpful words.
  if (const std::string& token = connection->token;
      token.size() > 4 && token.compare(0, 2, "ry") == 0 && token[3] == '_' && token[2] != 'u') {
    const std::string kind = token[2] == 'j' ? "join" : token[2] == 'a' ? "agent" : token[2] == 'r' ? "run" : "non-user";
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "that is a ", kind,
        " token: runyard login takes a user token (an admin makes one: runyard tokens create --name NAME --role user)")));
  }
  absl::StatusOr<runyard::v1::TokenInfo> who = AccessClient(*connection).WhoAmI();
  if (!who.ok()) return Fail(who.status());
  if (who->kind() != runyard::v1::TOKEN_KIND_USER) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "that is a ", TokenKindName(who->kind()),
        " token: runyard login takes a user token (an admin makes one: runyard tokens create --name NAME --role user)")));
  }
  Credentials saved;
  saved.server = connection->server;
  saved.token = connection->token;
  // Absolute: later commands run from other folders.
  if (!connection->ca_file.empty()) saved.ca_file = std::filesystem::absolute(connection->ca_file).string();
  saved.insecure = connection->insecure;
  const std::filesystem::path file = DefaultCredentialsFile();
  if (absl::Status written = WriteCredentials(file, saved); !written.ok()) return Fail(written);
  if (global.json) {
    nlohmann::json json = TokenToJson(*who);
    json["server"] = saved.server;
    json["credentials_file"] = file.string();
    PrintJson(json);
  } else {
    std::cout << "logged in to " << saved.server << " as " << DescribeToken(*who) << " over "
              << TransportText(ServerConnection{.ca_file = saved.ca_file, .insecure = saved.insecure})
              << "\ncredentials saved in " << file.string() << " (0600)\n";
  }
  return 0;
}

int LogoutCommand(const GlobalOptions& global) {
  const std::filesystem::path file = DefaultCredentialsFile();
  absl::StatusOr<bool> removed = RemoveCredentials(file);
  if (!removed.ok()) return Fail(removed.status());
  if (global.json) {
    PrintJson({{"credentials_file", file.string()}, {"removed", *removed}});
  } else if (*removed) {
    std::cout << "logged out: removed " << file.string()
              << " (the token stays valid on the server until revoked: runyard tokens revoke ID)\n";
  } else {
    std::cerr << "runyard: not logged in (no " << file.string() << ")\n";
  }
  return 0;
}

int WhoAmICommand(const GlobalOptions& global) {
  absl::StatusOr<std::unique_ptr<AccessClient>> access = ConnectAccess(global);
  if (!access.ok()) return Fail(access.status());
  absl::StatusOr<runyard::v1::TokenInfo> who = (*access)->WhoAmI();
  if (!who.ok()) return Fail(who.status());
  const ServerConnection& connection = global.connection;
  if (global.json) {
    nlohmann::json json = TokenToJson(*who);
    json["server"] = connection.server;
    json["token_from"] = connection.token_origin;
    PrintJson(json);
    return 0;
  }
  std::cout << DescribeToken(*who) << "\n"
            << "server:     " << connection.server << " over " << TransportText(connection) << "\n"
            << "token from: " << connection.token_origin << "\n"
            << "expires:    " << (who->expires_unix_ms() > 0 ? IsoTime(who->expires_unix_ms()) : "never") << "\n";
  return 0;
}

}  // namespace runyard::cli
