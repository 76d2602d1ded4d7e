#pragma once

#include <string>
#include <string_view>

namespace runyard::common {

// True for a host only this machine can reach: 127.0.0.0/8, ::1 or "localhost". Plaintext
// is allowed only there, since nobody else can read or forge the traffic.
bool IsLoopbackHost(std::string_view host);

// The host of "host:port" or "[v6]:port", brackets removed; "" for ":port" (every interface).
std::string HostOfAddress(std::string_view address);

}  // namespace runyard::common
