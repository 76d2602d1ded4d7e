#include "server/server_credentials.h"

#include <fstream>
#include <sstream>

#include "common/loopback_host.h"
#include "common/tls_files.h"

namespace runyard::server {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& key, const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in || text.str().empty()) return absl::FailedPreconditionError(key + " " + file + ": cannot read");
  return std::move(text).str();
}

}  // namespace

absl::Status ValidateServerTransport(const ServerConfig& config) {
  const bool has_cert = !config.tls_cert_file.empty() || !config.tls_key_file.empty();
  if (config.insecure_plaintext) {
    if (has_cert) {
      return absl::InvalidArgumentError(
          "insecure_plaintext is set together with tls_cert_file/tls_key_file: choose one");
    }
    if (!common::IsLoopbackHost(common::HostOfAddress(config.listen))) {
      return absl::InvalidArgumentError(
          "insecure_plaintext is allowed only on a loopback listen address (127.0.0.1, ::1, "
          "localhost), not listen '" + config.listen + "': set tls_cert_file and tls_key_file");
    }
    if (!config.tls_client_ca_file.empty() || config.tls_require_client_cert) {
      return absl::InvalidArgumentError("tls_client_ca_file and tls_require_client_cert need TLS, "
                                        "not insecure_plaintext");
    }
    return absl::OkStatus();
  }
  if (config.tls_cert_file.empty() || config.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "runyard-server serves TLS: set tls_cert_file and tls_key_file (or, on a loopback listen "
        "address only, insecure_plaintext: true)");
  }
  if (absl::Status pair = common::CheckCertificateAndKey("tls_cert_file", config.tls_cert_file,
                                                         "tls_key_file", config.tls_key_file);
      !pair.ok()) {
    return pair;
  }
  if (config.tls_require_client_cert && config.tls_client_ca_file.empty()) {
    return absl::InvalidArgumentError("tls_require_client_cert needs tls_client_ca_file, the CA "
                                      "client certificates must be signed by");
  }
  if (!config.tls_client_ca_file.empty()) {
    return common::CheckCaFile("tls_client_ca_file", config.tls_client_ca_file);
  }
  return absl::OkStatus();
}


absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const ServerConfig& config) {
  if (config.insecure_plaintext) return grpc::InsecureServerCredentials();
  absl::StatusOr<std::string> cert = ReadPem("tls_cert_file", config.tls_cert_file);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem("tls_key_file", config.tls_key_file);
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_key_cert_pairs.push_back({*key, *cert});
  if (!config.tls_client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadPem("tls_client_ca_file", config.tls_client_ca_file);
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
    // Not required: a client without a certificate is still let in (its token decides),
    // but one that shows a certificate must show a good one.
    options.client_certificate_request = config.tls_require_client_cert
                                             ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                             : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

std::string DescribeServerTransport(const ServerConfig& config) {
  if (config.insecure_plaintext) return "plaintext";
  if (config.tls_require_client_cert) return "tls, client certificates required";
  if (!config.tls_client_ca_file.empty()) return "tls, client certificates verified";
  return "tls";
}

}  // namespace runyard::server
