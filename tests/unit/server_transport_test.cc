// Tests for how runyard-server's config decides its transport (server/server_credentials.h
// through ValidateServerConfig): TLS files that must exist, parse and match; plaintext only
// on loopback; the keys an error must name.

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/config.h"
#include "tests/unit/scoped_temp_dir.h"
#include "tests/unit/test_certificates.h"

namespace runyard::server {
namespace {

using ::testing::HasSubstr;

class ServerTransportTest : public ::testing::Test {
 protected:
  ServerTransportTest() : ca_(dir_.path(), "transport") { pair_ = ca_.Issue("server", {"127.0.0.1"}); }

  ServerConfig Tls(const std::string& listen) {
    ServerConfig config;
    config.listen = listen;
    config.tls_cert_file = pair_.cert_file;
    config.tls_key_file = pair_.key_file;
    return config;
  }
  ServerConfig Plaintext(const std::string& listen) {
    ServerConfig config;
    config.listen = listen;
    config.insecure_plaintext = true;
    return config;
  }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = (dir_.path() / name).string();
    std::ofstream(path) << text;
    return path;
  }

  testutil::ScopedTempDir dir_;
  testutil::TestCertificateAuthority ca_;
  testutil::PemPair pair_;
};

TEST_F(ServerTransportTest, TlsWithAGoodPairIsAccepted) {
  EXPECT_TRUE(ValidateServerConfig(Tls("0.0.0.0:7878")).ok());
}

TEST_F(ServerTransportTest, NoTlsAndNoPlaintextIsRefusedNamingTheKeys) {
  ServerConfig config;  // the defaults: loopback, but plaintext was not asked for
  const absl::Status status = ValidateServerConfig(config);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("tls_cert_file and tls_key_file"));
  EXPECT_THAT(status.message(), HasSubstr("insecure_plaintext"));
}

TEST_F(ServerTransportTest, PlaintextIsAcceptedOnLoopbackOnly) {
  for (const char* listen : {"127.0.0.1:7878", "127.3.2.1:0", "[::1]:7878", "localhost:7878"}) {
    EXPECT_TRUE(ValidateServerConfig(Plaintext(listen)).ok()) << listen;
  }
  for (const char* listen : {"0.0.0.0:7878", ":7878", "10.0.0.5:7878", "[::]:7878", "runyard.example.com:7878"}) {
    const absl::Status status = ValidateServerConfig(Plaintext(listen));
    EXPECT_FALSE(status.ok()) << listen;
    EXPECT_THAT(status.message(), HasSubstr("insecure_plaintext is allowed only on a loopback listen address"));
    EXPECT_THAT(status.message(), HasSubstr(listen));
  }
}

TEST_F(ServerTransportTest, MissingCertificateFileIsNamed) {
  ServerConfig config = Tls("0.0.0.0:7878");
  config.tls_cert_file = (dir_.path() / "missing.pem").string();
  const absl::Status status = ValidateServerConfig(config);
  EXPECT_THAT(status.message(), HasSubstr("tls_cert_file " + config.tls_cert_file + ": cannot read"));
}

TEST_F(ServerTransportTest, FileThatIsNotACertificateIsNamed) {
  ServerConfig config = Tls("0.0.0.0:7878");
  config.tls_cert_file = Write("junk.pem", "hello\n");
  EXPECT_EQ(ValidateServerConfig(config).message(), "tls_cert_file " + config.tls_cert_file + ": not a PEM certificate");
}

TEST_F(ServerTransportTest, KeyOfAnotherCertificateIsRefused) {
  ServerConfig config = Tls("0.0.0.0:7878");
  config.tls_key_file = ca_.Issue("other", {"127.0.0.1"}).key_file;
  EXPECT_EQ(ValidateServerConfig(config).message(),
            "tls_key_file " + config.tls_key_file + " does not match tls_cert_file " + config.tls_cert_file);
}

TEST_F(ServerTransportTest, ExpiredCertificateIsRefusedWithItsDate) {
  ServerConfig config = Tls("0.0.0.0:7878");
  const testutil::PemPair expired = ca_.Issue("expired", {"127.0.0.1"}, -10, -1);
  config.tls_cert_file = expired.cert_file;
  config.tls_key_file = expired.key_file;
  const absl::Status status = ValidateServerConfig(config);
  EXPECT_THAT(status.message(), HasSubstr("tls_cert_file " + expired.cert_file + " expired on 20"));
}

TEST_F(ServerTransportTest, RequiredClientCertificatesNeedTheirCa) {
  ServerConfig config = Tls("0.0.0.0:7878");
  config.tls_require_client_cert = true;
  EXPECT_THAT(ValidateServerConfig(config).message(), HasSubstr("tls_require_client_cert needs tls_client_ca_file"));
  config.tls_client_ca_file = ca_.ca_file();
  EXPECT_TRUE(ValidateServerConfig(config).ok());
  config.tls_client_ca_file = Write("not-a-ca.pem", "nope");
  EXPECT_THAT(ValidateServerConfig(config).message(), HasSubstr("tls_client_ca_file " + config.tls_client_ca_file));
}

TEST_F(ServerTransportTest, PlaintextTogetherWithCertificatesIsAmbiguous) {
  ServerConfig config = Tls("127.0.0.1:7878");
  config.insecure_plaintext = true;
  EXPECT_THAT(ValidateServerConfig(config).message(), HasSubstr("choose one"));
}

TEST_F(ServerTransportTest, AdminTokenFileDefaultsIntoTheDataDir) {
  ServerConfig config;
  config.data_dir = "/srv/runyard";
  EXPECT_EQ(AdminTokenFile(config), std::filesystem::path("/srv/runyard/admin-token"));
  config.admin_token_file = "/etc/runyard/first-admin";
  EXPECT_EQ(AdminTokenFile(config), std::filesystem::path("/etc/runyard/first-admin"));
}

TEST_F(ServerTransportTest, RequestRateMustBePositive) {
  ServerConfig config = Tls("127.0.0.1:7878");
  EXPECT_EQ(config.max_requests_per_second, 2000);
  config.max_requests_per_second = 0;
  EXPECT_THAT(ValidateServerConfig(config).message(), HasSubstr("max_requests_per_second"));
}

}  // namespace
}  // namespace runyard::server
