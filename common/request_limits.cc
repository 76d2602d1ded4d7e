#include "common/request_limits.h"

#include <array>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"

namespace runyard::common {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// The string fields allowed max_argument_bytes instead of max_string_bytes: each reaches
// execve as one string (an argument, an environment variable), which Linux allows up to
// 128 KiB; a spec a node could run is not refused here.
constexpr std::array<std::string_view, 3> kArgumentFields{
    "runyard.v1.RunSpec.command", "runyard.v1.RunSpec.arguments",
    "runyard.v1.Environment.EnvironmentVariablesEntry.value"};

// The methods whose requests carry file and blob bytes.
constexpr std::array<std::string_view, 4> kBulkMethods{
    "/runyard.v1.Agents/Append", "/runyard.v1.Agents/Report", "/runyard.v1.Cas/BatchUploadBlobs",
    "/runyard.v1.Cas/UploadBlob"};

// Echoed keys are cut to this many bytes (escaped), so an error never repeats a huge value.
constexpr size_t kMaxEcho = 64;

bool NeedsUtf8(const FieldDescriptor* field) {
  return field->type() == FieldDescriptor::TYPE_STRING &&
         field->file()->syntax() == google::protobuf::FileDescriptor::SYNTAX_PROTO3;
}

// The offset of the first byte that is not part of valid UTF-8 (no overlong forms, no
// surrogates, nothing past U+10FFFF), or npos.
size_t InvalidUtf8At(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    uint32_t code = 0;
    if ((c & 0xE0) == 0xC0) {
      length = 2, code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3, code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4, code = c & 0x07;
    } else {
      return i;
    }
    if (i + length > text.size()) return i;
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return i;
      code = code << 6 | (next & 0x3F);
    }
    constexpr uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kSmallest[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return i;
    i += length;
  }
  return std::string_view::npos;
}

// `value` quoted and escaped, at most kMaxEcho bytes of escapes, "..." when cut.
std::string Echo(std::string_view value) {
  std::string out = "\"";
  for (size_t i = 0; i < value.size(); ++i) {
    const std::string escaped = absl::CHexEscape(absl::string_view(value.data() + i, 1));
    if (out.size() - 1 + escaped.size() > kMaxEcho) return out + "\"...";
    out += escaped;
  }
  return out + "\"";
}

// Where a value sits, rendered only when something is refused ("spec.tags[\"x\"]").
struct Path {
  const Path* parent = nullptr;
  const FieldDescriptor* field = nullptr;
  int index = -1;                      // an element of a repeated field
  const Message* map_entry = nullptr;  // an entry of a map field: its key
};

std::string MapKey(const Message& entry) {
  const FieldDescriptor* key = entry.GetDescriptor()->map_key();
  const Reflection* reflection = entry.GetReflection();
  switch (key->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return Echo(reflection->GetString(entry, key));
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(reflection->GetInt32(entry, key));
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(reflection->GetInt64(entry, key));
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(reflection->GetUInt32(entry, key));
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(reflection->GetUInt64(entry, key));
    case FieldDescriptor::CPPTYPE_BOOL:
      return reflection->GetBool(entry, key) ? "true" : "false";
    default:
      return "?";
  }
}

std::string Render(const Path* path) {
  if (path == nullptr) return "";
  std::string out = Render(path->parent);
  if (!out.empty()) out += ".";
  out += path->field->name();
  if (path->index >= 0) absl::StrAppend(&out, "[", path->index, "]");
  if (path->map_entry != nullptr) absl::StrAppend(&out, "[", MapKey(*path->map_entry), "]");
  return out;
}

absl::Status Refused(const Path& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(Render(&path), ": ", what));
}

// One walk over a message with one set of limits.
class Checker {
 public:
  explicit Checker(const MessageLimits& limits) : limits_(limits) {}

  absl::Status CheckFields(const Message& message, const Path* parent, int depth) const {
    const Reflection* reflection = message.GetReflection();
    std::vector<const FieldDescriptor*> fields;
    reflection->ListFields(message, &fields);  // only those set: cheap on small requests
    for (const FieldDescriptor* field : fields) {
      Path path{parent, field};
      if (!field->is_repeated()) {
        if (absl::Status s = CheckValue(message, field, -1, path, depth); !s.ok()) return s;
        continue;
      }
      const int size = reflection->FieldSize(message, field);
      if (size > limits_.max_repeated_entries) {
        return Refused(path, absl::StrCat(size, " entries, more than the limit of ",
                                          limits_.max_repeated_entries));
      }
      for (int i = 0; i < size; ++i) {
        absl::Status checked;
        if (field->is_map()) {
          checked = CheckMapEntry(reflection->GetRepeatedMessage(message, field, i), path, depth);
        } else {
          Path element = path;
          element.index = i;
          checked = CheckValue(message, field, i, element, depth);
        }
        if (!checked.ok()) return checked;
      }
    }
    return absl::OkStatus();
  }

 private:
  int64_t StringLimit(const FieldDescriptor* field) const {
    for (std::string_view argument : kArgumentFields) {
      if (field->full_name() == argument) return limits_.max_argument_bytes;
    }
    return limits_.max_string_bytes;
  }

  absl::Status CheckString(std::string_view value, const FieldDescriptor* field,
                           const Path& path) const {
    const int64_t limit = StringLimit(field);
    if (static_cast<int64_t>(value.size()) > limit) {
      return Refused(path, absl::StrCat(value.size(), " bytes, more than the limit of ", limit));
    }
    if (NeedsUtf8(field)) {
      if (const size_t bad = InvalidUtf8At(value); bad != std::string_view::npos)
        return Refused(path, absl::StrCat("not valid UTF-8 (at byte ", bad, ")"));
    }
    return absl::OkStatus();
  }

  // One value of `field` (element `index` of a repeated one): strings and messages have
  // limits of their own.
  absl::Status CheckValue(const Message& message, const FieldDescriptor* field, int index,
                          const Path& path, int depth) const {
    const Reflection* reflection = message.GetReflection();
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      if (field->type() == FieldDescriptor::TYPE_BYTES) return absl::OkStatus();
      std::string scratch;
      const std::string& value =
          index < 0 ? reflection->GetStringReference(message, field, &scratch)
                    : reflection->GetRepeatedStringReference(message, field, index, &scratch);
      return CheckString(value, field, path);
    }
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) return absl::OkStatus();
    if (depth + 1 > limits_.max_nesting) {
      return Refused(path,
                     absl::StrCat("nested more than ", limits_.max_nesting, " messages deep"));
    }
    const Message& child = index < 0 ? reflection->GetMessage(message, field)
                                     : reflection->GetRepeatedMessage(message, field, index);
    return CheckFields(child, &path, depth + 1);
  }

  // One entry of a map field: its key here, its value as any other value (the value's
  // path names the key).
  absl::Status CheckMapEntry(const Message& entry, const Path& map_path, int depth) const {
    const FieldDescriptor* key = entry.GetDescriptor()->map_key();
    if (key->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      std::string scratch;
      const std::string& text = entry.GetReflection()->GetStringReference(entry, key, &scratch);
      const int64_t limit = StringLimit(key);
      if (static_cast<int64_t>(text.size()) > limit) {
        return Refused(map_path, absl::StrCat("a key of ", text.size(), " bytes (", Echo(text),
                                              "), more than the limit of ", limit));
      }
      if (NeedsUtf8(key) && InvalidUtf8At(text) != std::string_view::npos) {
        return Refused(map_path, absl::StrCat("a key that is not valid UTF-8 (", Echo(text), ")"));
      }
    }
    Path value_path = map_path;
    value_path.index = -1;
    value_path.map_entry = &entry;
    return CheckValue(entry, entry.GetDescriptor()->map_value(), -1, value_path, depth);
  }

  const MessageLimits& limits_;
};

}  // namespace

absl::Status CheckMessageLimits(const google::protobuf::Message& message,
                                const MessageLimits& limits) {
  return Checker(limits).CheckFields(message, nullptr, 1);
}

int64_t MaxRequestBytes(std::string_view full_method) {
  for (std::string_view bulk : kBulkMethods) {
    if (full_method == bulk) return kMaxBulkRequestBytes;
  }
  return kMaxRequestBytes;
}

absl::Status CheckRequestLimits(std::string_view full_method,
                                const google::protobuf::Message& request) {
  const size_t size = request.ByteSizeLong();
  const int64_t limit = MaxRequestBytes(full_method);
  if (static_cast<int64_t>(size) > limit) {
    return absl::InvalidArgumentError(absl::StrCat("request of ", std::string(full_method), ": ",
                                                   size, " bytes, more than the limit of ", limit));
  }
  return CheckMessageLimits(request);
}

}  // namespace runyard::common
