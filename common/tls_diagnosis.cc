#include "common/tls_diagnosis.h"

#include <openssl/x509_vfy.h>

#include "common/loopback_host.h"
#include "common/tls_probe.h"

namespace runyard::common {
namespace {

// Each probe step waits this long: enough for a loaded server, short for a person waiting.
constexpr std::chrono::milliseconds kProbeTimeout{3000};

constexpr const char* kSetTheCa = "set the CA with --ca-file / RUNYARD_CA_FILE or runyard login";

// "host" and "port" of a gRPC target ("host:port", "[v6]:port", "dns:///host:port").
bool SplitTarget(std::string address, std::string* host, std::string* port) {
  for (const char* scheme : {"dns:///", "dns:", "ipv4:", "ipv6:"}) {
    if (address.rfind(scheme, 0) == 0) address = address.substr(std::string(scheme).size());
  }
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || address.rfind("unix:", 0) == 0) return false;
  *host = HostOfAddress(address);
  *port = address.substr(colon + 1);
  return !host->empty() && !port->empty();
}

// The files of `options` that cannot be used, before looking at the network: no probe
// says more than "this file cannot be read".
std::string ProblemWithFiles(const ChannelOptions& options) {
  if (!options.ca_file.empty()) {
    if (absl::Status ca = CheckCaFile("the CA file", options.ca_file); !ca.ok()) {
      return std::string(ca.message()) + " (" + kSetTheCa + ")";
    }
  }
  if (!options.client_cert_file.empty() || !options.client_key_file.empty()) {
    if (options.client_cert_file.empty() || options.client_key_file.empty()) {
      return "a client certificate needs both client_cert_file and client_key_file";
    }
    if (absl::Status pair = CheckCertificateAndKey("the client certificate", options.client_cert_file,
                                                   "the client key", options.client_key_file);
        !pair.ok()) {
      return std::string(pair.message());
    }
  }
  return "";
}

// What is wrong with the server's certificate for this client, or "".
std::string ServerCertificateProblem(const ChannelOptions& options, const std::string& host, const TlsProbe& probe,
                                     const std::string& server) {
  if (!probe.certificate) return "";
  const std::string certificate = "the certificate of " + server;
  switch (probe.verify_result) {
    case X509_V_OK:
      break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return certificate + " expired on " + CertificateTime(X509_get0_notAfter(probe.certificate.get()));
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return certificate + " is not valid before " +
             CertificateTime(X509_get0_notBefore(probe.certificate.get())) + " (is this machine's clock right?)";
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_CERT_UNTRUSTED:
      if (options.ca_file.empty()) return certificate + " is not signed by a CA this system trusts: " + kSetTheCa;
      return certificate + " is not signed by the CA in " + options.ca_file;
    default:
      return certificate + " does not verify against " +
             (options.ca_file.empty() ? std::string("this system's CAs") : "the CA in " + options.ca_file) + ": " +
             X509_verify_cert_error_string(probe.verify_result);
  }
  if (!probe.name_matches) {
    return certificate + " is for " + CertificateNames(probe.certificate.get()) + ", not " + host;
  }
  return "";
}

std::string ClientCertificateProblem(const ChannelOptions& options, const TlsProbe& probe,
                                     const std::string& server) {
  if (!probe.client_certificate_refused) return "";
  const std::string alert = probe.refusal.empty() ? "" : " (TLS alert: " + probe.refusal + ")";
  if (options.client_cert_file.empty()) {
    return server + " requires a client certificate" + alert + ": set client_cert_file and client_key_file";
  }
  return server + " refused the client certificate in " + options.client_cert_file + alert +
         ": it must be signed by the server's tls_client_ca_file and valid now";
}

}  // namespace

std::string ExplainConnectionFailure(const ChannelOptions& options, const grpc::Status& status) {
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE) return status.error_message();
  const std::string server = "runyard-server at " + options.address;
  if (!options.insecure_plaintext) {
    if (std::string files = ProblemWithFiles(options); !files.empty()) return "cannot reach " + server + ": " + files;
  }
  std::string host, port;
  if (!SplitTarget(options.address, &host, &port)) return status.error_message();

  const TlsProbe probe = ProbeServer(host, port, options, kProbeTimeout);
  if (!probe.reachable) return server + " is not reachable: " + probe.unreachable_reason;
  if (options.insecure_plaintext) {
    if (probe.handshake_done) return server + " speaks TLS but this client was set to plaintext: " + kSetTheCa;
    return status.error_message();  // both plaintext: not a TLS matter
  }
  if (!probe.handshake_done) {
    if (probe.speaks_plaintext_http2) {
      return server + " speaks plaintext but this client expects TLS: give the server tls_cert_file and " +
             "tls_key_file" + (IsLoopbackHost(host) ? " (or, for a loopback test server, set RUNYARD_INSECURE=1)" : "");
    }
    return "the TLS handshake with " + server + " failed: " + probe.handshake_error;
  }
  if (std::string problem = ServerCertificateProblem(options, host, probe, server); !problem.empty()) return problem;
  if (std::string problem = ClientCertificateProblem(options, probe, server); !problem.empty()) return problem;
  return status.error_message();
}

}  // namespace runyard::common
