#include "runtime/free_ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace runyard::runtime {
namespace {

constexpr int kAttempts = 64;

// A socket bound to 127.0.0.1:`port` (0: any free one), or -1.
int BoundSocket(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int PortOf(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return -1;
  return ntohs(address.sin_port);
}

}  // namespace

absl::StatusOr<int> FindFreePortRange(int count) {
  if (count < 1) count = 1;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    std::vector<int> held;
    const int first = BoundSocket(0);
    if (first < 0) break;
    held.push_back(first);
    const int base = PortOf(first);
    bool all_free = base > 0 && base + count - 1 <= 65535;
    for (int port = base + 1; all_free && port < base + count; ++port) {
      const int fd = BoundSocket(port);
      if (fd < 0) all_free = false;
      else held.push_back(fd);
    }
    for (const int fd : held) ::close(fd);
    if (all_free) return base;
  }
  return absl::UnavailableError("cannot find " + std::to_string(count) +
                                " free consecutive ports on 127.0.0.1");
}

}  // namespace runyard::runtime
