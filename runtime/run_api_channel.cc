#include "runtime/run_api_channel.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace runyard::runtime {
namespace fs = std::filesystem;
namespace {

// Names and text values the SDK refuses past these (fixed by the contract, not configurable).
constexpr int64_t kMaxNameChars = 255;
constexpr int64_t kMaxTextValueChars = 65536;

// Creates `file` afresh with exactly `content` and `mode` (umask aside).
absl::Status WriteNewFile(const fs::path& file, std::string_view content, mode_t mode) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot create ", file.string(), ": ", strerror(errno)));
  }
  const bool written =
      ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
      ::fchmod(fd, mode) == 0;
  const int error = errno;
  ::close(fd);
  if (!written) {
    return absl::InternalError(absl::StrCat("cannot write ", file.string(), ": ", strerror(error)));
  }
  return absl::OkStatus();
}

}  // namespace

RunApiChannel RunApiChannelAt(const fs::path& run_root) {
  RunApiChannel channel;
  channel.dir = run_root / "run_api";
  channel.records = channel.dir / "records.jsonl";
  channel.committed = channel.dir / "committed";
  channel.context = channel.dir / "context.json";
  channel.children_count = channel.dir / "children.count";
  return channel;
}

std::string CommittedText(int64_t offset) {
  char text[32];
  std::snprintf(text, sizeof text, "%020lld\n", static_cast<long long>(offset));
  return text;
}

std::string RunApiContextJson(const RunApiChannel& channel, const Workspace& workspace,
                              const std::string& run_id, const runyard::v1::RunSpec& spec,
                              const RunApiLimits& limits) {
  nlohmann::json context = {
      {"run_id", run_id},
      {"experiment", spec.experiment()},
      {"display_name", spec.display_name()},
      // A run the runtime executes is never a child: children are never dispatched.
      {"parent_run_id", ""},
      {"tags", nlohmann::json::object()},
      {"properties", nlohmann::json::object()},
      {"compute_target", spec.compute_target()},
      {"limits",
       {{"max_metric_values", limits.max_metric_values_per_run},
        {"max_children", limits.max_children_per_run},
        {"max_tags", limits.max_tags_per_run},
        {"max_records_bytes", limits.max_records_bytes},
        {"max_name_chars", kMaxNameChars},
        {"max_text_value_chars", kMaxTextValueChars}}},
      {"records", channel.records.string()},
      {"committed", channel.committed.string()},
      {"images_dir", (workspace.logs() / "images").string()},
      {"logs_dir", workspace.logs().string()},
      {"outputs_dir", workspace.outputs().string()},
  };
  for (const auto& [key, value] : spec.tags()) context["tags"][key] = value;
  for (const auto& [key, value] : spec.properties()) context["properties"][key] = value;
  // Replaced, not thrown on: a tag is not required to be valid UTF-8 on the way in.
  return context.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

absl::StatusOr<RunApiChannel> CreateRunApiChannel(const Workspace& workspace,
                                                  const std::string& run_id,
                                                  const runyard::v1::RunSpec& spec,
                                                  const RunApiLimits& limits,
                                                  const std::optional<sandbox::RunAs>& run_as) {
  RunApiChannel channel = RunApiChannelAt(workspace.root);
  std::error_code ec;
  fs::create_directories(channel.dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create ", channel.dir.string(), ": ", ec.message()));
  }
  ::chmod(channel.dir.c_str(), 0755);
  RETURN_IF_ERROR(WriteNewFile(channel.records, "", run_as ? 0660 : 0644));
  RETURN_IF_ERROR(WriteNewFile(channel.children_count, "", run_as ? 0660 : 0644));
  RETURN_IF_ERROR(WriteNewFile(channel.committed, CommittedText(0), 0644));
  RETURN_IF_ERROR(WriteNewFile(channel.context,
                               RunApiContextJson(channel, workspace, run_id, spec, limits), 0644));
  if (run_as) {
    for (const fs::path& file : {channel.records, channel.children_count}) {
      if (::chown(file.c_str(), run_as->uid, run_as->gid) != 0) {
        return absl::PermissionDeniedError(absl::StrCat("cannot give ", file.string(), " to ",
                                                        run_as->name, ": ", strerror(errno)));
      }
    }
  }
  return channel;
}

}  // namespace runyard::runtime
