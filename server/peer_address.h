#pragma once

#include <string>
#include <string_view>

namespace runyard::server {

// The IP address in a gRPC peer string: "ipv4:10.0.0.5:41234" -> "10.0.0.5",
// "ipv6:[fd00::1]:41234" -> "fd00::1" (percent-decoded, "%25" -> "%"); "" for any other form
// (a Unix socket, an in-process channel).
std::string PeerAddress(std::string_view peer);

}  // namespace runyard::server
