#pragma once

#include <openssl/x509.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace runyard::common {

// PEM certificate and key files, read with OpenSSL so that a bad one is named before a
// daemon starts (gRPC would only log a handshake failure per connection).

struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

// The first certificate in `file`; the error starts with `what` ("tls_cert_file /x"):
// "...: cannot read: No such file or directory", "...: not a PEM certificate".
absl::StatusOr<X509Ptr> ReadCertificate(const std::string& what, const std::string& file);

// The names a certificate is valid for (DNS and IP subject alternative names, else its
// common name): "runyard.example.com, 10.0.0.5".
std::string CertificateNames(X509* cert);

// A certificate time as "2024-05-01 12:00:00 UTC".
std::string CertificateTime(const ASN1_TIME* time);

// The error when `cert` is not valid now ("<what> expired on <date>"), else OK.
absl::Status CheckValidNow(const std::string& what, X509* cert);

// A daemon's certificate and key: both parse, the key is the certificate's, and the
// certificate is valid now. `cert_key`/`key_key` are the config keys named in errors.
absl::Status CheckCertificateAndKey(const std::string& cert_key, const std::string& cert_file,
                                    const std::string& key_key, const std::string& key_file);

// A CA bundle: at least one PEM certificate.
absl::Status CheckCaFile(const std::string& key, const std::string& file);

}  // namespace runyard::common
