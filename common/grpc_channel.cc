#include "common/grpc_channel.h"

#include <grpcpp/support/client_interceptor.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

namespace runyard::common {
namespace {

// Adds the channel's bearer token to a call's initial metadata, unless the caller put an
// `authorization` entry there itself (a run token set for one call wins).
class BearerTokenInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit BearerTokenInterceptor(std::shared_ptr<TokenSource> token) : token_(std::move(token)) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      std::multimap<std::string, std::string>* metadata = methods->GetSendInitialMetadata();
      if (metadata->find("authorization") == metadata->end()) {
        if (std::string token = token_->Get(); !token.empty()) {
          metadata->emplace("authorization", "Bearer " + token);
        }
      }
    }
    methods->Proceed();
  }

 private:
  std::shared_ptr<TokenSource> token_;
};

class BearerTokenInterceptorFactory : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit BearerTokenInterceptorFactory(std::shared_ptr<TokenSource> token) : token_(std::move(token)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(grpc::experimental::ClientRpcInfo*) override {
    return new BearerTokenInterceptor(token_);
  }

 private:
  std::shared_ptr<TokenSource> token_;
};

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(text).str();
}

// Not a certificate: gRPC cannot build its TLS context from it, so every call fails
// UNAVAILABLE rather than falling back to the system's roots.
constexpr const char* kUnreadableFile = "(unreadable file)";

std::shared_ptr<grpc::ChannelCredentials> TlsCredentials(const ChannelOptions& options) {
  grpc::SslCredentialsOptions ssl;
  const auto read = [](const std::string& path) { return ReadFile(path).value_or(kUnreadableFile); };
  if (!options.ca_file.empty()) ssl.pem_root_certs = read(options.ca_file);
  if (!options.client_cert_file.empty() || !options.client_key_file.empty()) {
    ssl.pem_cert_chain = read(options.client_cert_file);
    ssl.pem_private_key = read(options.client_key_file);
  }
  return grpc::SslCredentials(ssl);
}

grpc::ChannelArguments ServerChannelArguments() {
  grpc::ChannelArguments args;
  // GRPC_ARG_MIN_RECONNECT_BACKOFF_MS is left at its default on purpose: gRPC also uses it
  // as the least time one connection attempt may take, and at 100 ms a busy server that
  // answered the handshake a little late made calls fail with "tcp handshaker shutdown". A
  // server that is down refuses at once, so the quick retry does not need it.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  args.SetMaxReceiveMessageSize(64 << 20);
  return args;
}

}  // namespace

std::shared_ptr<grpc::Channel> ServerChannel(const ChannelOptions& options) {
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      options.insecure_plaintext ? grpc::InsecureChannelCredentials() : TlsCredentials(options);
  if (!options.token) return grpc::CreateCustomChannel(options.address, credentials, ServerChannelArguments());
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<BearerTokenInterceptorFactory>(options.token));
  return grpc::experimental::CreateCustomChannelWithInterceptors(options.address, credentials,
                                                                 ServerChannelArguments(), std::move(interceptors));
}

std::shared_ptr<grpc::Channel> ServerChannel(const std::string& address) {
  ChannelOptions options;
  options.address = address;
  options.insecure_plaintext = true;
  return ServerChannel(options);
}

}  // namespace runyard::common
