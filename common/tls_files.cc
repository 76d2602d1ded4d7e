#include "common/tls_files.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace runyard::common {
namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

absl::StatusOr<BioPtr> OpenFile(const std::string& what, const std::string& file) {
  errno = 0;
  BioPtr bio(BIO_new_file(file.c_str(), "r"));
  if (!bio) {
    return absl::FailedPreconditionError(what + ": cannot read: " +
                                         (errno != 0 ? std::strerror(errno) : "unknown error"));
  }
  return bio;
}

std::string Describe(const std::string& key, const std::string& file) { return key + " " + file; }

}  // namespace

absl::StatusOr<X509Ptr> ReadCertificate(const std::string& what, const std::string& file) {
  absl::StatusOr<BioPtr> bio = OpenFile(what, file);
  if (!bio.ok()) return bio.status();
  X509Ptr cert(PEM_read_bio_X509(bio->get(), nullptr, nullptr, nullptr));
  if (!cert) {
    ERR_clear_error();  // the queue is per thread: left here it would be blamed on a later call
    return absl::FailedPreconditionError(what + ": not a PEM certificate");
  }
  return cert;
}

std::string CertificateNames(X509* cert) {
  std::string names;
  const auto add = [&](std::string name) { names += (names.empty() ? "" : ", ") + std::move(name); };
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
    if (name->type == GEN_DNS) {
      add(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.dNSName)),
                      ASN1_STRING_length(name->d.dNSName)));
    } else if (name->type == GEN_IPADD) {
      const int length = ASN1_STRING_length(name->d.iPAddress);
      char text[INET6_ADDRSTRLEN] = {};
      if ((length == 4 || length == 16) &&
          inet_ntop(length == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(name->d.iPAddress), text,
                    sizeof text) != nullptr) {
        add(text);
      }
    }
  }
  GENERAL_NAMES_free(sans);
  if (names.empty()) {
    char common_name[256] = {};
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, common_name,
                                  sizeof common_name) > 0) {
      add(common_name);
    }
  }
  return names.empty() ? "no names" : names;
}

std::string CertificateTime(const ASN1_TIME* time) {
  std::tm parts{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &parts) != 1) return "an unreadable date";
  char text[64];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &parts);
  return text;
}

absl::Status CheckValidNow(const std::string& what, X509* cert) {
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
    return absl::FailedPreconditionError(what + " expired on " + CertificateTime(X509_get0_notAfter(cert)));
  }
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
    return absl::FailedPreconditionError(what + " is not valid before " +
                                         CertificateTime(X509_get0_notBefore(cert)));
  }
  return absl::OkStatus();
}

absl::Status CheckCertificateAndKey(const std::string& cert_key, const std::string& cert_file,
                                    const std::string& key_key, const std::string& key_file) {
  const std::string cert_what = Describe(cert_key, cert_file);
  absl::StatusOr<X509Ptr> cert = ReadCertificate(cert_what, cert_file);
  if (!cert.ok()) return cert.status();
  if (absl::Status valid = CheckValidNow(cert_what, cert->get()); !valid.ok()) return valid;

  const std::string key_what = Describe(key_key, key_file);
  absl::StatusOr<BioPtr> bio = OpenFile(key_what, key_file);
  if (!bio.ok()) return bio.status();
  // No passphrase callback: an encrypted key fails here instead of prompting a daemon.
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio->get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr);
  if (key == nullptr) {
    ERR_clear_error();
    return absl::FailedPreconditionError(key_what + ": not a PEM private key (or one with a passphrase)");
  }
  const bool matches = X509_check_private_key(cert->get(), key) == 1;
  EVP_PKEY_free(key);
  ERR_clear_error();
  if (!matches) return absl::FailedPreconditionError(key_what + " does not match " + cert_what);
  return absl::OkStatus();
}

absl::Status CheckCaFile(const std::string& key, const std::string& file) {
  return ReadCertificate(Describe(key, file), file).status();
}

}  // namespace runyard::common
