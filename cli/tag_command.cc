// `runyard tag RUN KEY=VALUE... [--remove KEY]...`: sets and removes a run's tags, then
// prints them as they are.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "cli/command_support.h"
#include "cli/commands.h"
#include "cli/render.h"
#include "cli/run_filters.h"

namespace runyard::cli {

absl::StatusOr<runyard::v1::SetTagsRequest> BuildSetTagsRequest(const TagOptions& options) {
  if (options.tags.empty() && options.remove.empty()) {
    return absl::InvalidArgumentError("nothing to change: give KEY=VALUE tags or --remove KEY");
  }
  runyard::v1::SetTagsRequest request;
  request.set_run_id(options.run_id);
  for (const std::string& text : options.tags) {
    absl::StatusOr<std::pair<std::string, std::string>> tag = ParseKeyValue("tag", text);
    if (!tag.ok()) return tag.status();
    if (request.tags().contains(tag->first)) {
      return absl::InvalidArgumentError(
          absl::StrCat("tag '", tag->first, "' is given twice: give each key once"));
    }
    (*request.mutable_tags())[tag->first] = tag->second;
  }
  for (const std::string& key : options.remove) {
    if (key.empty()) return absl::InvalidArgumentError("--remove wants a tag KEY: got ''");
    if (request.tags().contains(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat("tag '", key, "' is both set and removed: do one"));
    }
    request.add_remove(key);
  }
  return request;
}

int TagCommand(const GlobalOptions& global, const TagOptions& options) {
  absl::StatusOr<runyard::v1::SetTagsRequest> request = BuildSetTagsRequest(options);
  if (!request.ok()) return Fail(request.status());
  absl::StatusOr<std::unique_ptr<RunBackend>> backend = BackendForRun(global, options.run_id);
  if (!backend.ok()) return Fail(backend.status());
  absl::StatusOr<runyard::v1::Run> run = (*backend)->SetTags(*request);
  if (!run.ok()) return Fail(run.status());
  const std::map<std::string, std::string> tags = RunTags(*run);
  if (global.json) {
    PrintJson({{"run_id", run->run_id()}, {"tags", tags}});
    return 0;
  }
  if (tags.empty()) std::cerr << "runyard: " << run->run_id() << " has no tags\n";
  for (const auto& [key, value] : tags) std::cout << key << "=" << value << "\n";
  return 0;
}

}  // namespace runyard::cli
