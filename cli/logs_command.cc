// `runyard logs RUN [-f] [--rank N | --node K | --all]`: the script's output (rank 0's for
// a distributed run); following, live until the run ends, then the run's summary.
#include <chrono>
#include <iostream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cli/command_support.h"
#include "cli/commands.h"
#include "cli/log_selection.h"
#include "common/distributed_config.h"
#include "common/status_names.h"

namespace runyard::cli {
namespace {

void Write(std::string_view bytes) {
  std::cout.write(bytes.data(), static_cast<std::streamsize>(bytes.size())).flush();
}

// Prints a log chunk: raw bytes, or under --json one object per chunk ({offset, text}).
class LogPrinter {
 public:
  explicit LogPrinter(bool json) : json_(json) {}
  void operator()(std::string_view bytes) {
    if (json_) {
      PrintJson({{"offset", offset_}, {"text", std::string(bytes)}}, -1);
    } else {
      Write(bytes);
    }
    offset_ += static_cast<int64_t>(bytes.size());
  }

 private:
  bool json_;
  int64_t offset_ = 0;
};

// One log as it is now. A log not written yet (a run still queued, a rank with no output)
// prints nothing: the run exists, SelectLogs checked the rank.
int PrintWholeLog(const GlobalOptions& global, RunBackend& backend, const std::string& run_id,
                  const std::string& path) {
  std::ostringstream json_text;
  absl::Status read = backend.ReadFile(run_id, path, 0, [&](std::string_view bytes, int64_t) {
    if (global.json) {
      json_text.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    } else {
      Write(bytes);
    }
    return absl::OkStatus();
  });
  if (!read.ok() && !absl::IsNotFound(read)) return Fail(read);
  if (global.json) PrintJson({{"run_id", run_id}, {"path", path}, {"text", json_text.str()}});
  return 0;
}

// --all: every log whole, one after the other in rank (node) order, each line labelled.
int PrintEveryLog(const GlobalOptions& global, RunBackend& backend, const std::string& run_id,
                  const std::vector<LogSource>& sources) {
  nlohmann::json logs = nlohmann::json::array();
  for (const LogSource& source : sources) {
    LinePrefixer prefixer(source.prefix());
    std::string text;  // under --json only
    absl::Status read = backend.ReadFile(run_id, source.path, 0, [&](std::string_view bytes, int64_t) {
      if (global.json) {
        text.append(bytes);
      } else {
        Write(prefixer.Add(bytes));
      }
      return absl::OkStatus();
    });
    if (!read.ok() && !absl::IsNotFound(read)) return Fail(read);
    if (global.json) {
      logs.push_back({{"path", source.path}, {"label", source.label}, {"text", text}});
    } else {
      Write(prefixer.Flush());
    }
  }
  if (global.json) PrintJson({{"run_id", run_id}, {"logs", logs}});
  return 0;
}

// -f --all: every log read again from where it was left, once a second, until the run
// has ended and the rest was read; lines of different ranks interleave whole.
absl::StatusOr<runyard::v1::Run> FollowEveryLog(const GlobalOptions& global, RunBackend& backend,
                                                const std::string& run_id,
                                                const std::vector<LogSource>& sources) {
  std::vector<int64_t> offsets(sources.size(), 0);
  std::vector<LinePrefixer> prefixers;
  for (const LogSource& source : sources) prefixers.emplace_back(source.prefix());
  while (true) {
    absl::StatusOr<runyard::v1::Run> run = backend.Get(run_id);  // before the reads: ended means complete
    if (!run.ok()) return run.status();
    const bool ended = common::IsTerminal(run->status());
    for (size_t i = 0; i < sources.size(); ++i) {
      absl::Status read = backend.ReadFile(run_id, sources[i].path, offsets[i], [&](std::string_view bytes, int64_t) {
        if (bytes.empty()) return absl::OkStatus();
        if (global.json) {
          PrintJson({{"path", sources[i].path}, {"label", sources[i].label}, {"offset", offsets[i]},
                     {"text", std::string(bytes)}},
                    -1);
        } else {
          Write(prefixers[i].Add(bytes));
        }
        offsets[i] += static_cast<int64_t>(bytes.size());
        return absl::OkStatus();
      });
      if (!read.ok() && !absl::IsNotFound(read)) return read;
    }
    if (ended) {
      if (!global.json) {
        for (LinePrefixer& prefixer : prefixers) Write(prefixer.Flush());
      }
      return run;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace

int LogsCommand(const GlobalOptions& global, const LogsOptions& options) {
  absl::StatusOr<std::unique_ptr<RunBackend>> backend = BackendForRun(global, options.run_id);
  if (!backend.ok()) return Fail(backend.status());
  absl::StatusOr<runyard::v1::Run> found = (*backend)->Get(options.run_id);
  if (!found.ok()) return Fail(found.status());
  absl::StatusOr<std::vector<LogSource>> sources =
      SelectLogs(*found, LogChoice{.rank = options.rank, .node = options.node, .all = options.all});
  if (!sources.ok()) return Fail(sources.status());
  if (!options.follow) {
    if (options.all) return PrintEveryLog(global, **backend, options.run_id, *sources);
    return PrintWholeLog(global, **backend, options.run_id, sources->front().path);
  }

  absl::StatusOr<runyard::v1::Run> run;
  if (options.all) {
    run = FollowEveryLog(global, **backend, options.run_id, *sources);
  } else {
    LogPrinter print(global.json);
    // The run's own log goes as an empty log_path: a server that predates log_path serves it too.
    const std::string& path = sources->front().path;
    const std::string log_path = path == common::NodeLogPath(0) ? "" : path;
    run = (*backend)->Watch(options.run_id, log_path, 0, [&](std::string_view bytes) { print(bytes); }, nullptr);
  }
  if (!run.ok()) return Fail(run.status());
  // stdout stays exactly the log (logs -f RUN > file keeps it clean): the summary goes to
  // stderr, or under --json as a last object {"summary": ...}.
  const RunSummary summary = SummaryFor(**backend, global, *run);
  if (global.json) {
    PrintJson({{"summary", SummaryToJson(summary)}}, -1);
  } else {
    std::cerr << RenderSummary(summary) << std::flush;
  }
  return 0;
}

}  // namespace runyard::cli
