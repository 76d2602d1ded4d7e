#include "server/peer_address.h"

#include "absl/strings/str_replace.h"

namespace runyard::server {
namespace {

bool Consume(std::string_view* text, std::string_view prefix) {
  if (text->substr(0, prefix.size()) != prefix) return false;
  text->remove_prefix(prefix.size());
  return true;
}

}  // namespace

std::string PeerAddress(std::string_view peer) {
  if (Consume(&peer, "ipv4:")) {
    const size_t colon = peer.rfind(':');
    return std::string(colon == std::string_view::npos ? peer : peer.substr(0, colon));
  }
  if (Consume(&peer, "ipv6:")) {
    // gRPC escapes the URI: "ipv6:%5B::1%5D:5555" on some versions, "[::1]:5555" on others.
    const std::string host = absl::StrReplaceAll(std::string(peer), {{"%5B", "["}, {"%5D", "]"}});
    if (host.empty() || host.front() != '[') return "";
    const size_t close = host.find(']');
    if (close == std::string::npos) return "";
    return absl::StrReplaceAll(host.substr(1, close - 1), {{"%25", "%"}});
  }
  return "";
}

}  // namespace runyard::server
