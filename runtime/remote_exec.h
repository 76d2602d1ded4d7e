#pragma once

// How node 0 of an MPI run starts Open MPI's daemon (orted) on node k > 0 without ssh
// (issue 16): node k's process is a listener (runyard-ranks --serve-remote-exec) inside
// that node's containment and sandbox; mpirun's rsh agent (runyard-ranks --rsh) connects
// to it, proves it knows the attempt's secret, and sends the shell command line Open MPI
// would have given ssh. The listener runs it with /bin/sh -c, streams its stdout and
// stderr back, and ends with its exit code; a hang-up of node 0 SIGTERMs the command's
// process group (SIGKILL after a grace).
//
// The protocol, on one TCP connection. Node 0 sends three lines and the command:
//   "runyard-remote-exec 1\n" <secret> "\n" <length of the command, decimal> "\n" <command>
// The listener answers with frames: one byte (o: stdout, e: stderr, x: the exit code as
// decimal text, the last frame), a 4-byte big-endian length, the bytes. A wrong secret
// gets one e frame saying so and the connection closed; the listener keeps listening.

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"

namespace runyard::runtime {

struct RemoteExecServerOptions {
  int port = 0;  // on every address of the node
  std::string secret;
  std::filesystem::path started_file;  // created once listening (empty: none)
  std::chrono::milliseconds kill_grace{10000};  // SIGTERM to SIGKILL of the command
  // Called with the port actually bound (port 0: one the kernel chose), for tests.
  std::function<void(int)> on_listening;
};

// Serves one authenticated command, then returns the node's exit code: the command's
// (128 + signal when it was killed; a hang-up SIGTERMs it), 255 when nothing could be
// served. SIGTERM, SIGINT or SIGHUP to this process are
// passed on to the command. Its own lines (what it runs, how it ended) go to `log`.
int ServeRemoteExec(const RemoteExecServerOptions& options, std::ostream& log);

// Node 0's side: connects to address:port (retrying while refused, up to
// `connect_timeout`: the node may not be listening yet), runs `command` there, writes its
// output to this process's stdout and stderr, and returns its exit code (255 when it
// could not be run, as ssh does).
int RunRemoteCommand(const std::string& address, int port, const std::string& secret,
                     const std::string& command, std::chrono::milliseconds connect_timeout);

// Node 0's map of the other nodes, a file readable by the run only:
//   "secret <secret>\n" then one "node <host name> <address> <port>\n" per node.
struct RemoteNode {
  std::string address;
  int port = 0;
};
struct RemoteNodeMap {
  std::string secret;
  std::map<std::string, RemoteNode> nodes;  // by the host name mpirun is given
};
std::string RemoteNodeMapText(const RemoteNodeMap& map);
absl::StatusOr<RemoteNodeMap> ReadRemoteNodeMap(const std::filesystem::path& file);

}  // namespace runyard::runtime
