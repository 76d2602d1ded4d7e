#pragma once

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/config.h"

namespace runyard::server {

// How runyard-server's listeners are secured: TLS with tls_cert_file/tls_key_file (client
// certificates checked against tls_client_ca_file), or plaintext only when
// insecure_plaintext is set and `listen` is loopback, where nobody else can listen in.

// The error names the keys to set or the file that is wrong ("tls_cert_file /x: not a PEM
// certificate", "... expired on <date>", "tls_key_file /k does not match tls_cert_file /c").
absl::Status ValidateServerTransport(const ServerConfig& config);

// gRPC credentials for a config ValidateServerTransport accepted; the files are read here.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const ServerConfig& config);

// For the "listening on" line: "tls", "tls, client certificates required", "plaintext".
std::string DescribeServerTransport(const ServerConfig& config);

}  // namespace runyard::server
