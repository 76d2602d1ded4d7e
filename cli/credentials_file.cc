#include "cli/credentials_file.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/private_file.h"
#include "common/read_file.h"

namespace runyard::cli {
namespace fs = std::filesystem;

fs::path DefaultCredentialsFile() {
  if (const char* config = std::getenv("XDG_CONFIG_HOME"); config != nullptr && *config != '\0') {
    return fs::path(config) / "runyard" / "credentials";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return fs::path(home) / ".config" / "runyard" / "credentials";
  }
  return {};
}

absl::StatusOr<std::optional<Credentials>> ReadCredentials(const fs::path& file) {
  std::error_code ec;
  if (file.empty() || !fs::exists(file, ec)) return std::optional<Credentials>();
  absl::StatusOr<std::string> text = common::ReadWholeFile(file);
  if (!text.ok()) return text.status();
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "credentials file ", file.string(), " ", why, " (runyard login writes it anew; runyard logout removes it)"));
  };
  Credentials credentials;
  try {
    const YAML::Node root = YAML::Load(*text);
    if (!root.IsMap()) return bad("is not a YAML mapping of server, token, ca_file, insecure");
    for (const auto& entry : root) {
      const std::string key = entry.first.as<std::string>();
      const YAML::Node& value = entry.second;
      if (key == "server") {
        credentials.server = value.as<std::string>();
      } else if (key == "token") {
        credentials.token = value.as<std::string>();
      } else if (key == "ca_file") {
        credentials.ca_file = value.IsNull() ? "" : value.as<std::string>();
      } else if (key == "insecure") {
        credentials.insecure = value.as<bool>();
      } else {
        return bad("has an unknown key '" + key + "'");
      }
    }
  } catch (const YAML::Exception& error) {
    // The message never quotes the file's text: it holds a token.
    return bad(absl::StrCat("cannot be parsed (line ", error.mark.line + 1, ")"));
  }
  if (credentials.server.empty()) return bad("names no server");
  if (credentials.token.empty()) return bad("holds no token");
  return std::optional<Credentials>(std::move(credentials));
}

absl::Status WriteCredentials(const fs::path& file, const Credentials& credentials) {
  if (file.empty()) return absl::FailedPreconditionError("no place for credentials: set HOME or XDG_CONFIG_HOME");
  if (absl::Status made = common::MakePrivateDirectory(file.parent_path()); !made.ok()) return made;
  YAML::Emitter out;
  out << YAML::Comment("runyard login: the server this user talks to, and the token (keep private)");
  out << YAML::BeginMap;
  out << YAML::Key << "server" << YAML::Value << YAML::DoubleQuoted << credentials.server;
  out << YAML::Key << "token" << YAML::Value << YAML::DoubleQuoted << credentials.token;
  out << YAML::Key << "ca_file" << YAML::Value << YAML::DoubleQuoted << credentials.ca_file;
  out << YAML::Key << "insecure" << YAML::Value << credentials.insecure;
  out << YAML::EndMap;
  return common::WritePrivateFile(file, std::string(out.c_str()) + "\n");
}

absl::StatusOr<bool> RemoveCredentials(const fs::path& file) {
  std::error_code ec;
  const bool removed = !file.empty() && fs::remove(file, ec);
  if (ec) return absl::PermissionDeniedError("cannot remove " + file.string() + ": " + ec.message());
  return removed;
}

}  // namespace runyard::cli
