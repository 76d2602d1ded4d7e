// libFuzzer target for common/request_limits.h: the input is a (hostile) serialized
// request, as it arrives at the server. Byte 0 (the selector): bits 0-1 pick
// SubmitRequest, ReportRequest or RegisterRequest (the requests with the most strings,
// lists, maps and nesting); bit 2 says that bytes 2..n+1 (n = byte 1) replace the first
// string found, so that strings the protobuf parser would refuse (invalid UTF-8, as a
// message built in-process may hold) reach the validator too; bit 3 the lowered nesting
// limit. The rest is the message.
//
// Checked, independently of the product code:
//   - with the server's limits, every such small request is accepted unless it holds a
//     string that is not valid UTF-8 (protobuf's own check is the oracle);
//   - with limits lowered so that small inputs reach them, the validator refuses exactly
//     when a hand-written walk finds a string, list, map or nesting over a limit or a
//     string that is not UTF-8, always with InvalidArgument, and its message is printable
//     ASCII of bounded length (it echoes at most 64 bytes of escaped key).
// A violation prints what was found and aborts, so libFuzzer keeps the input as a crash.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "common/request_limits.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/stubs/logging.h"
#include "runyard/v1/services.pb.h"

namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using runyard::common::MessageLimits;

bool g_verbose = false;  // RUNYARD_FUZZ_VERBOSE=1: print what the validator returned

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "\n*** request_limits_fuzzer: INVARIANT VIOLATED: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// Lowered so that small inputs reach them; the nesting (3 or 4) from the selector's bit 3.
MessageLimits SmallLimits(uint8_t selector) {
  MessageLimits limits;
  limits.max_string_bytes = 8;
  limits.max_argument_bytes = 16;
  limits.max_repeated_entries = 3;
  limits.max_nesting = 3 + ((selector >> 3) & 1);
  return limits;
}

bool Utf8(const std::string& text) {
  return google::protobuf::internal::IsStructurallyValidUTF8(text.data(),
                                                             static_cast<int>(text.size()));
}

// The fields that may be longer (re-stated: execve's strings).
bool IsArgument(const FieldDescriptor* field) {
  const std::string& name = field->full_name();
  return name == "runyard.v1.RunSpec.command" || name == "runyard.v1.RunSpec.arguments" ||
         name == "runyard.v1.Environment.EnvironmentVariablesEntry.value";
}

// Whether anything in `message` breaks `limits` (depth: of message's fields, from 1).
bool Breaks(const Message& message, const MessageLimits& limits, int depth, bool* not_utf8) {
  const google::protobuf::Reflection* reflection = message.GetReflection();
  const google::protobuf::Descriptor* type = message.GetDescriptor();
  bool broken = false;
  for (int f = 0; f < type->field_count(); ++f) {
    const FieldDescriptor* field = type->field(f);
    const int count = field->is_repeated() ? reflection->FieldSize(message, field)
                                           : (reflection->HasField(message, field) ? 1 : 0);
    if (count == 0) continue;
    if (field->is_repeated() && count > limits.max_repeated_entries) broken = true;
    for (int i = 0; i < count; ++i) {
      if (field->type() == FieldDescriptor::TYPE_STRING) {
        const std::string value = field->is_repeated()
                                      ? reflection->GetRepeatedString(message, field, i)
                                      : reflection->GetString(message, field);
        const int64_t limit =
            IsArgument(field) ? limits.max_argument_bytes : limits.max_string_bytes;
        if (static_cast<int64_t>(value.size()) > limit) broken = true;
        if (!Utf8(value)) broken = *not_utf8 = true;
      } else if (field->type() == FieldDescriptor::TYPE_MESSAGE) {
        const Message& child = field->is_repeated()
                                   ? reflection->GetRepeatedMessage(message, field, i)
                                   : reflection->GetMessage(message, field);
        // A map's entry is no nesting of its own: its key and value belong to the map field.
        const int child_depth = field->is_map() ? depth : depth + 1;
        if (!field->is_map() && child_depth > limits.max_nesting) broken = true;
        if (Breaks(child, limits, child_depth, not_utf8)) broken = true;
      }
    }
  }
  return broken;
}

// Replaces the first string in `message` (depth first) with `raw`; false when it has none.
bool ReplaceFirstString(Message* message, const std::string& raw) {
  const google::protobuf::Reflection* reflection = message->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(*message, &fields);
  for (const FieldDescriptor* field : fields) {
    if (field->type() == FieldDescriptor::TYPE_STRING) {
      if (field->is_repeated()) {
        reflection->SetRepeatedString(message, field, 0, raw);
      } else {
        reflection->SetString(message, field, raw);
      }
      return true;
    }
    if (field->type() != FieldDescriptor::TYPE_MESSAGE) continue;
    Message* child = field->is_repeated() ? reflection->MutableRepeatedMessage(message, field, 0)
                                          : reflection->MutableMessage(message, field);
    if (ReplaceFirstString(child, raw)) return true;
  }
  return false;
}

bool PrintableAscii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  // protobuf logs every proto3 string with invalid UTF-8; that is expected input here.
  google::protobuf::SetLogHandler(nullptr);
  g_verbose = std::getenv("RUNYARD_FUZZ_VERBOSE") != nullptr;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t selector = data[0];
  size_t at = 1;
  std::string raw;
  const bool replace = (selector & 0x4) != 0;
  if (replace) {
    const size_t length = std::min<size_t>(data[1], size - 2);
    raw.assign(reinterpret_cast<const char*>(data + 2), length);
    at = 2 + length;
  }
  std::unique_ptr<Message> message;
  std::string method;
  switch ((selector & 0x3) % 3) {
    case 0:
      message = std::make_unique<runyard::v1::SubmitRequest>(), method = "/runyard.v1.Runs/Submit";
      break;
    case 1:
      message = std::make_unique<runyard::v1::ReportRequest>(),
      method = "/runyard.v1.Agents/Report";
      break;
    default:
      message = std::make_unique<runyard::v1::RegisterRequest>(),
      method = "/runyard.v1.Agents/Register";
      break;
  }
  if (!message->ParseFromArray(data + at, static_cast<int>(size - at))) return 0;
  if (replace && !ReplaceFirstString(message.get(), raw)) return 0;

  bool not_utf8 = false;
  const absl::Status server = runyard::common::CheckRequestLimits(method, *message);
  Breaks(*message, MessageLimits(), 1, &not_utf8);
  if (g_verbose)
    std::fprintf(stderr, "%s, server limits: %s\n", method.c_str(), server.ToString().c_str());
  if (server.ok() == not_utf8) {
    Fail("with the server's limits: " + server.ToString() +
         (not_utf8 ? " for a string that is not UTF-8" : ""));
  }

  const MessageLimits small = SmallLimits(selector);
  bool small_not_utf8 = false;
  const bool breaks = Breaks(*message, small, 1, &small_not_utf8);
  const absl::Status checked = runyard::common::CheckMessageLimits(*message, small);
  if (g_verbose) std::fprintf(stderr, "small limits: %s\n", checked.ToString().c_str());
  if (checked.ok() == breaks) {
    Fail(std::string(breaks ? "accepted a request over a limit"
                            : "refused a request within the limits") +
         ": " + checked.ToString());
  }
  if (!checked.ok()) {
    if (checked.code() != absl::StatusCode::kInvalidArgument)
      Fail("refusal is not InvalidArgument: " + checked.ToString());
    const std::string text(checked.message());
    if (!PrintableAscii(text)) Fail("the message is not printable ASCII: " + checked.ToString());
    // Four levels of fields with an index or an echoed key each, and the limit.
    if (text.size() > 512) Fail("the message is " + std::to_string(text.size()) + " bytes long");
  }
  return 0;
}
