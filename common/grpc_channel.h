#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

namespace runyard::common {

// A channel to runyard-server that reconnects quickly after a server restart (gRPC's
// default backoff would leave an agent idle for seconds after the server is back).
inline std::shared_ptr<grpc::Channel> ServerChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

}  // namespace runyard::common
