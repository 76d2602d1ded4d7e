#pragma once

// Certificates made in-process with OpenSSL for TLS tests: a CA, and leaf certificates it
// signs for given names and validity, written as PEM files.

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace runyard::testutil {

struct PemPair {
  std::string cert_file;
  std::string key_file;
};

class TestCertificateAuthority {
 public:
  // A self-signed CA named `name`, its files written under `dir` as <stem>.pem/.key.
  TestCertificateAuthority(const std::filesystem::path& dir, const std::string& name) : dir_(dir) {
    key_.reset(EVP_EC_gen("P-256"));
    cert_ = NewCertificate(name + " test CA", key_.get(), -1, 30);  // never a leaf's name
    X509_set_issuer_name(cert_.get(), X509_get_subject_name(cert_.get()));
    AddExtension(cert_.get(), cert_.get(), NID_basic_constraints, "critical,CA:TRUE");
    AddExtension(cert_.get(), cert_.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    X509_sign(cert_.get(), key_.get(), EVP_sha256());
    ca_file_ = (dir_ / (name + "-ca.pem")).string();
    WriteFile(ca_file_, CertificatePem(cert_.get()));
  }

  const std::string& ca_file() const { return ca_file_; }

  // A leaf certificate for `names` ("127.0.0.1", "localhost": IP or DNS alternative names)
  // valid from `from_days` to `to_days` around now, signed by this CA.
  PemPair Issue(const std::string& stem, const std::vector<std::string>& names, int from_days = -1,
                int to_days = 30) {
    std::unique_ptr<EVP_PKEY, KeyFree> key(EVP_EC_gen("P-256"));
    std::unique_ptr<X509, CertFree> cert = NewCertificate(stem, key.get(), from_days, to_days);
    X509_set_issuer_name(cert.get(), X509_get_subject_name(cert_.get()));
    std::string alternative_names;
    for (const std::string& name : names) {
      const bool ip = name.find_first_not_of("0123456789.") == std::string::npos || name.find(':') != std::string::npos;
      alternative_names += (alternative_names.empty() ? "" : ",") + std::string(ip ? "IP:" : "DNS:") + name;
    }
    if (!alternative_names.empty()) AddExtension(cert_.get(), cert.get(), NID_subject_alt_name, alternative_names);
    AddExtension(cert_.get(), cert.get(), NID_basic_constraints, "critical,CA:FALSE");
    AddExtension(cert_.get(), cert.get(), NID_ext_key_usage, "serverAuth,clientAuth");
    X509_sign(cert.get(), key_.get(), EVP_sha256());
    PemPair pair{(dir_ / (stem + ".pem")).string(), (dir_ / (stem + ".key")).string()};
    WriteFile(pair.cert_file, CertificatePem(cert.get()));
    WriteFile(pair.key_file, KeyPem(key.get()));
    return pair;
  }

 private:
  struct KeyFree {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
  };
  struct CertFree {
    void operator()(X509* cert) const { X509_free(cert); }
  };

  static std::unique_ptr<X509, CertFree> NewCertificate(const std::string& common_name, EVP_PKEY* key,
                                                        int from_days, int to_days) {
    static long serial = 1;
    std::unique_ptr<X509, CertFree> cert(X509_new());
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), static_cast<long>(from_days) * 86400);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(to_days) * 86400);
    X509_set_pubkey(cert.get(), key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
    return cert;
  }

  static void AddExtension(X509* issuer, X509* subject, int nid, const std::string& value) {
    X509V3_CTX context;
    X509V3_set_ctx(&context, issuer, subject, nullptr, nullptr, 0);
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str());
    ASSERT_NE(extension, nullptr) << value;
    X509_add_ext(subject, extension, -1);
    X509_EXTENSION_free(extension);
  }

  static std::string Drain(BIO* bio) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    std::string text(data, static_cast<size_t>(size));
    BIO_free(bio);
    return text;
  }
  static std::string CertificatePem(X509* cert) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, cert);
    return Drain(bio);
  }
  static std::string KeyPem(EVP_PKEY* key) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    return Drain(bio);
  }
  static void WriteFile(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
  }

  std::filesystem::path dir_;
  std::unique_ptr<EVP_PKEY, KeyFree> key_;
  std::unique_ptr<X509, CertFree> cert_;
  std::string ca_file_;
};

}  // namespace runyard::testutil
