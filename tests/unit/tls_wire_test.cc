// Tests for TLS and tokens on the wire: common/grpc_channel.h's channels against a real
// in-process gRPC server on 127.0.0.1 secured by server/server_credentials.h, and
// common/tls_diagnosis.h's explanation of each way a connection can be refused.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/grpc_channel.h"
#include "common/tls_diagnosis.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runyard/v1/services.grpc.pb.h"
#include "server/config.h"
#include "server/server_credentials.h"
#include "tests/unit/scoped_temp_dir.h"
#include "tests/unit/test_certificates.h"

namespace runyard {
namespace {

using common::ChannelOptions;
using common::ExplainConnectionFailure;
using common::TokenSource;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Runs.Get answers with the run id it was asked for and keeps every `authorization` value
// each call carried.
class RecordingRuns : public v1::Runs::Service {
 public:
  grpc::Status Get(grpc::ServerContext* context, const v1::GetRunRequest* request, v1::Run* response) override {
    std::vector<std::string> values;
    const auto [begin, end] = context->client_metadata().equal_range("authorization");
    for (auto it = begin; it != end; ++it) values.emplace_back(it->second.data(), it->second.size());
    std::lock_guard lock(mutex_);
    authorizations_.push_back(std::move(values));
    response->set_run_id(request->run_id());
    return grpc::Status::OK;
  }
  std::vector<std::string> LastAuthorization() {
    std::lock_guard lock(mutex_);
    return authorizations_.empty() ? std::vector<std::string>{} : authorizations_.back();
  }

 private:
  std::mutex mutex_;
  std::vector<std::vector<std::string>> authorizations_;
};

class TlsWireTest : public ::testing::Test {
 protected:
  TlsWireTest() : ca_(dir_.path(), "good"), other_ca_(dir_.path(), "other") {}
  ~TlsWireTest() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
  }

  server::ServerConfig TlsConfig(const testutil::PemPair& pair) {
    server::ServerConfig config;
    config.listen = "127.0.0.1:0";
    config.tls_cert_file = pair.cert_file;
    config.tls_key_file = pair.key_file;
    return config;
  }
  server::ServerConfig ServerTls() { return TlsConfig(ca_.Issue("server", {"127.0.0.1", "localhost"})); }

  void Start(const server::ServerConfig& config) {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = server::MakeServerCredentials(config);
    ASSERT_TRUE(credentials.ok()) << credentials.status();
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort(config.listen, *credentials, &port);
    builder.RegisterService(&runs_);
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_ != nullptr);
    ASSERT_GT(port, 0);
    address_ = "127.0.0.1:" + std::to_string(port);
  }

  ChannelOptions Client(const std::string& ca_file) {
    ChannelOptions options;
    options.address = address_;
    options.ca_file = ca_file;
    return options;
  }

  // One Runs.Get over a fresh channel, with `authorization` set on the call when given.
  grpc::Status Call(const ChannelOptions& options, const std::string& authorization = "") {
    auto stub = v1::Runs::NewStub(common::ServerChannel(options));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (!authorization.empty()) context.AddMetadata("authorization", authorization);
    v1::GetRunRequest request;
    request.set_run_id("r1");
    v1::Run run;
    grpc::Status status = stub->Get(&context, request, &run);
    if (status.ok()) {
      EXPECT_EQ(run.run_id(), "r1");
    }
    return status;
  }

  // The explanation of a call that must fail UNAVAILABLE.
  std::string ExplainRefusal(const ChannelOptions& options) {
    const grpc::Status status = Call(options);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
    return ExplainConnectionFailure(options, status);
  }

  testutil::ScopedTempDir dir_;
  testutil::TestCertificateAuthority ca_;
  testutil::TestCertificateAuthority other_ca_;
  RecordingRuns runs_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

TEST_F(TlsWireTest, TlsCallWithTheRightCaSucceeds) {
  Start(ServerTls());
  const grpc::Status status = Call(Client(ca_.ca_file()));
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(TlsWireTest, LocalhostNameIsAcceptedToo) {
  Start(ServerTls());
  ChannelOptions options = Client(ca_.ca_file());
  options.address = "localhost:" + address_.substr(address_.rfind(':') + 1);
  const grpc::Status status = Call(options);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(TlsWireTest, PlaintextClientToTlsServerIsExplained) {
  Start(ServerTls());
  ChannelOptions options = Client("");
  options.insecure_plaintext = true;
  const std::string explanation = ExplainRefusal(options);
  EXPECT_THAT(explanation, HasSubstr("runyard-server at " + address_ + " speaks TLS but this client was set to plaintext"));
  EXPECT_THAT(explanation, HasSubstr("RUNYARD_CA_FILE"));
}

TEST_F(TlsWireTest, TlsClientToPlaintextServerIsExplained) {
  server::ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.insecure_plaintext = true;
  Start(config);
  const std::string explanation = ExplainRefusal(Client(ca_.ca_file()));
  EXPECT_THAT(explanation, HasSubstr(address_ + " speaks plaintext but this client expects TLS"));
}

TEST_F(TlsWireTest, PlaintextBothWaysWorks) {
  server::ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.insecure_plaintext = true;
  Start(config);
  ChannelOptions options = Client("");
  options.insecure_plaintext = true;
  EXPECT_TRUE(Call(options).ok());
}

TEST_F(TlsWireTest, CertificateFromAnotherCaIsRefusedAndExplained) {
  Start(ServerTls());
  const std::string explanation = ExplainRefusal(Client(other_ca_.ca_file()));
  EXPECT_THAT(explanation, HasSubstr("the certificate of runyard-server at " + address_ +
                                     " is not signed by the CA in " + other_ca_.ca_file()));
}

TEST_F(TlsWireTest, ExpiredCertificateIsRefusedAndExplained) {
  Start(TlsConfig(ca_.Issue("expired", {"127.0.0.1"}, -10, -1)));
  const std::string explanation = ExplainRefusal(Client(ca_.ca_file()));
  EXPECT_THAT(explanation, HasSubstr("the certificate of runyard-server at " + address_ + " expired on 20"));
  EXPECT_THAT(explanation, HasSubstr(" UTC"));
}

TEST_F(TlsWireTest, CertificateForOtherNamesIsRefusedAndExplained) {
  Start(TlsConfig(ca_.Issue("elsewhere", {"runyard.example.com", "10.1.2.3"})));
  const std::string explanation = ExplainRefusal(Client(ca_.ca_file()));
  EXPECT_THAT(explanation, HasSubstr("is for runyard.example.com, 10.1.2.3, not 127.0.0.1"));
}

TEST_F(TlsWireTest, UnreadableCaFileFailsTheCallAndIsNamed) {
  Start(ServerTls());
  const std::string missing = (dir_.path() / "no-such-ca.pem").string();
  const std::string explanation = ExplainRefusal(Client(missing));
  EXPECT_THAT(explanation, HasSubstr("the CA file " + missing + ": cannot read"));
}

TEST_F(TlsWireTest, NobodyListeningIsExplained) {
  Start(ServerTls());
  ChannelOptions options = Client(ca_.ca_file());
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
  server_.reset();
  EXPECT_THAT(ExplainRefusal(options), HasSubstr("runyard-server at " + address_ + " is not reachable: connection refused"));
}

TEST_F(TlsWireTest, OtherStatusesPassThroughUnchanged) {
  const grpc::Status denied(grpc::StatusCode::PERMISSION_DENIED, "user bob may not cancel");
  EXPECT_EQ(ExplainConnectionFailure(Client(ca_.ca_file()), denied), "user bob may not cancel");
}

TEST_F(TlsWireTest, RequiredClientCertificate) {
  server::ServerConfig config = ServerTls();
  config.tls_client_ca_file = ca_.ca_file();
  config.tls_require_client_cert = true;
  Start(config);

  EXPECT_THAT(ExplainRefusal(Client(ca_.ca_file())),
              HasSubstr("runyard-server at " + address_ + " requires a client certificate"));

  ChannelOptions with_certificate = Client(ca_.ca_file());
  const testutil::PemPair client = ca_.Issue("client", {"agent-1.example.com"});
  with_certificate.client_cert_file = client.cert_file;
  with_certificate.client_key_file = client.key_file;
  const grpc::Status status = Call(with_certificate);
  EXPECT_TRUE(status.ok()) << status.error_message();

  ChannelOptions foreign = Client(ca_.ca_file());
  const testutil::PemPair stranger = other_ca_.Issue("stranger", {"agent-2.example.com"});
  foreign.client_cert_file = stranger.cert_file;
  foreign.client_key_file = stranger.key_file;
  EXPECT_THAT(ExplainRefusal(foreign), HasSubstr("refused the client certificate in " + stranger.cert_file));
}

TEST_F(TlsWireTest, TokenIsSentOnEveryCallAndAPerCallOneWins) {
  Start(ServerTls());
  ChannelOptions options = Client(ca_.ca_file());
  options.token = std::make_shared<TokenSource>("ryu_0123456789ab_secret");
  ASSERT_TRUE(Call(options).ok());
  EXPECT_THAT(runs_.LastAuthorization(), ElementsAre("Bearer ryu_0123456789ab_secret"));

  ASSERT_TRUE(Call(options, "Bearer ryr_ba9876543210_run").ok());
  EXPECT_THAT(runs_.LastAuthorization(), ElementsAre("Bearer ryr_ba9876543210_run"));

  options.token->Set("rya_00000000000a_agent");  // a token learnt later, same channel options
  ASSERT_TRUE(Call(options).ok());
  EXPECT_THAT(runs_.LastAuthorization(), ElementsAre("Bearer rya_00000000000a_agent"));
}

TEST_F(TlsWireTest, TokenChangesApplyToAnOpenChannel) {
  Start(ServerTls());
  ChannelOptions options = Client(ca_.ca_file());
  options.token = std::make_shared<TokenSource>();
  auto stub = v1::Runs::NewStub(common::ServerChannel(options));
  const auto get = [&] {
    grpc::ClientContext context;
    v1::GetRunRequest request;
    v1::Run run;
    return stub->Get(&context, request, &run);
  };
  ASSERT_TRUE(get().ok());
  EXPECT_THAT(runs_.LastAuthorization(), IsEmpty());  // no token yet: no header
  options.token->Set("ryj_111111111111_join");
  ASSERT_TRUE(get().ok());
  EXPECT_THAT(runs_.LastAuthorization(), ElementsAre("Bearer ryj_111111111111_join"));
}

}  // namespace
}  // namespace runyard
