#pragma once

#include <optional>
#include <string>

#include "agent/config.h"

namespace runyard::agent {

// The first IPv4 address of network interface `name` (e.g. "eth0"), dotted; nothing when
// the interface does not exist or has no IPv4 address.
std::optional<std::string> Ipv4OfInterface(const std::string& name);

// How the other agents of a distributed run reach this one (RegisterRequest.address):
// advertise_address when set, else the IPv4 address of network_interface, else empty (the
// server then uses the address it sees the agent connect from). `problem` gets a line to
// log when network_interface is set but gives no address.
std::string AdvertisedAddress(const AgentConfig& config, std::string* problem = nullptr);

}  // namespace runyard::agent
