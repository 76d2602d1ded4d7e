#include "agent/network_address.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

namespace runyard::agent {

std::optional<std::string> Ipv4OfInterface(const std::string& name) {
  ifaddrs* addresses = nullptr;
  if (::getifaddrs(&addresses) != 0) return std::nullopt;
  std::optional<std::string> found;
  for (const ifaddrs* entry = addresses; entry != nullptr && !found; entry = entry->ifa_next) {
    if (entry->ifa_addr == nullptr || entry->ifa_addr->sa_family != AF_INET) continue;
    if (name != entry->ifa_name) continue;
    char text[INET_ADDRSTRLEN] = {};
    const auto* ipv4 = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr);
    if (::inet_ntop(AF_INET, &ipv4->sin_addr, text, sizeof text) != nullptr) found = text;
  }
  ::freeifaddrs(addresses);
  return found;
}

std::string AdvertisedAddress(const AgentConfig& config, std::string* problem) {
  if (!config.advertise_address.empty()) return config.advertise_address;
  if (config.network_interface.empty()) return "";
  if (std::optional<std::string> address = Ipv4OfInterface(config.network_interface)) {
    return *address;
  }
  if (problem != nullptr) {
    *problem = "network_interface " + config.network_interface +
               " has no IPv4 address (or does not exist): the server advertises the address "
               "this agent connects from";
  }
  return "";
}

}  // namespace runyard::agent
