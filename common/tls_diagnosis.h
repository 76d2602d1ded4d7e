#pragma once

#include <string>

#include <grpcpp/grpcpp.h>

#include "common/grpc_channel.h"

namespace runyard::common {

// What a failed call's status means, in one sentence naming the address and the file to
// fix: the server speaks TLS but this client plaintext (or the reverse), its certificate
// is not signed by the CA in `ca_file`, has expired, is for other names, the server
// refused our client certificate, or nothing listens there. Only an UNAVAILABLE status is
// looked into, with one direct TCP connection and TLS handshake to the address, so a
// command that succeeds pays nothing; any other status comes back as its message.
std::string ExplainConnectionFailure(const ChannelOptions& options, const grpc::Status& status);

}  // namespace runyard::common
