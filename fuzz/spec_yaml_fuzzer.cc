// libFuzzer target for common::ParseRunSpecYaml: the input is a run spec file, as a user
// (or a script generating specs) may write anything into one.
//
// The parser must never throw, crash or hang, whatever yaml-cpp makes of the text. A
// refusal must be InvalidArgument. An accepted spec must, checked here without the
// product code: serialize and parse back to the same bytes, hold valid UTF-8 in every
// string (protobuf's own check: a proto3 string that is not would make the server refuse
// the whole request with an opaque parse error), and get an answer from ValidateRunSpec
// that is OK or InvalidArgument. A violation prints what was found and aborts.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/spec_yaml.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/stubs/logging.h"

namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

bool g_verbose = false;  // RUNYARD_FUZZ_VERBOSE=1: print what ParseRunSpecYaml returned

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "\n*** spec_yaml_fuzzer: INVARIANT VIOLATED: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// The path of the first string in `message` that is not valid UTF-8, or "".
std::string FirstNonUtf8(const Message& message, const std::string& prefix) {
  const google::protobuf::Reflection* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    const int count = field->is_repeated() ? reflection->FieldSize(message, field) : 1;
    const std::string path = prefix + field->name();
    for (int i = 0; i < count; ++i) {
      if (field->type() == FieldDescriptor::TYPE_STRING) {
        const std::string value = field->is_repeated()
                                      ? reflection->GetRepeatedString(message, field, i)
                                      : reflection->GetString(message, field);
        if (!google::protobuf::internal::IsStructurallyValidUTF8(value.data(),
                                                                 static_cast<int>(value.size())))
          return path;
      } else if (field->type() == FieldDescriptor::TYPE_MESSAGE) {
        const Message& child = field->is_repeated()
                                   ? reflection->GetRepeatedMessage(message, field, i)
                                   : reflection->GetMessage(message, field);
        if (std::string bad = FirstNonUtf8(child, path + "."); !bad.empty()) return bad;
      }
    }
  }
  return "";
}

// Map fields serialize in hash order unless asked otherwise.
std::string Deterministic(const Message& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  google::protobuf::SetLogHandler(nullptr);
  g_verbose = std::getenv("RUNYARD_FUZZ_VERBOSE") != nullptr;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<runyard::v1::RunSpec> spec = runyard::common::ParseRunSpecYaml(text);
  if (g_verbose) {
    std::fprintf(stderr, "ParseRunSpecYaml: %s\n",
                 spec.ok() ? "OK" : spec.status().ToString().c_str());
  }
  if (!spec.ok()) {
    if (spec.status().code() != absl::StatusCode::kInvalidArgument)
      Fail("refusal is not InvalidArgument: " + spec.status().ToString());
    return 0;
  }
  if (std::string bad = FirstNonUtf8(*spec, ""); !bad.empty())
    Fail("accepted a spec whose " + bad + " is not valid UTF-8");
  const std::string bytes = Deterministic(*spec);
  runyard::v1::RunSpec again;
  if (!again.ParseFromString(bytes)) Fail("the accepted spec does not parse back");
  if (Deterministic(again) != bytes) Fail("serialization is not stable");
  const absl::Status valid = runyard::common::ValidateRunSpec(*spec);
  if (!valid.ok() && valid.code() != absl::StatusCode::kInvalidArgument)
    Fail("ValidateRunSpec's refusal is not InvalidArgument: " + valid.ToString());
  return 0;
}
