#pragma once

#include "absl/status/statusor.h"

namespace runyard::runtime {

// A base port p such that p .. p + count - 1 are all free on 127.0.0.1 right now (the
// local target's ports for a distributed run; a server-placed run gets its range from the
// server). The kernel picks p (a bind to port 0); a range that is partly taken is tried
// again with another p.
absl::StatusOr<int> FindFreePortRange(int count);

}  // namespace runyard::runtime
