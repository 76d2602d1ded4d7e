#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace runyard::common {

// Ceilings every request is held to before the control plane sees it (server/request_gate.h
// applies them to each RPC), so that no field of a hostile request can make the server
// store, copy or log without bound. Each refusal is InvalidArgument naming the field path
// and the limit, e.g.
//   spec.tags["x"]: 70000 bytes, more than the limit of 65536
// with any echoed key cut to 64 bytes.

// A string field's bytes (bytes fields, the bulk data, are not strings: only the message
// size below bounds them). The few string fields allowed more are named in
// request_limits.cc (max_argument_bytes below).
inline constexpr int64_t kMaxStringBytes = 64 * 1024;
// Entries of one repeated or map field.
inline constexpr int kMaxRepeatedEntries = 100'000;
// Messages inside messages, counted from the request (the request's own fields are at 1).
inline constexpr int kMaxNesting = 32;
// A whole serialized request: most methods carry names and specs...
inline constexpr int64_t kMaxRequestBytes = 4 << 20;
// ...while these carry file and blob bytes (Append, Report, BatchUploadBlobs, each
// UploadBlob chunk); the server's gRPC receive limit is the same.
inline constexpr int64_t kMaxBulkRequestBytes = 64 << 20;

// The ceilings above as one value; the fuzz target (fuzz/request_limits_fuzzer.cc) lowers
// them so that small inputs reach them.
struct MessageLimits {
  int64_t max_string_bytes = kMaxStringBytes;
  // The string fields execve takes whole (command, arguments, environment values): Linux
  // allows each up to 128 KiB (MAX_ARG_STRLEN), so a spec a node could run passes.
  int64_t max_argument_bytes = 128 * 1024;
  int max_repeated_entries = kMaxRepeatedEntries;
  int max_nesting = kMaxNesting;
};

// Every field of `message`, recursively: string sizes, repeated and map sizes, nesting,
// and valid UTF-8 in proto3 strings (map keys included).
absl::Status CheckMessageLimits(const google::protobuf::Message& message,
                                const MessageLimits& limits = {});

// The largest serialized request `full_method` ("/runyard.v1.Agents/Append") accepts.
int64_t MaxRequestBytes(std::string_view full_method);

// A request of `full_method` (a client stream's messages one by one): its size, then
// CheckMessageLimits. The error names the method and the size.
absl::Status CheckRequestLimits(std::string_view full_method,
                                const google::protobuf::Message& request);

}  // namespace runyard::common
