#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

namespace runyard::common {

// A channel to runyard-server that reconnects quickly after a server restart (gRPC's
// default backoff would leave an agent idle for seconds after the server is back).
// GRPC_ARG_MIN_RECONNECT_BACKOFF_MS is left at its default on purpose: gRPC also uses it as
// the least time one connection attempt may take, and at 100 ms a busy server that
// answered the handshake a little late made calls fail with "tcp handshaker shutdown". A
// server that is down refuses at once, so the quick retry does not need it.
inline std::shared_ptr<grpc::Channel> ServerChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

}  // namespace runyard::common
