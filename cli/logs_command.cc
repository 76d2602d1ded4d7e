// `runyard logs RUN [-f] [--rank N]`: the script's output; following, live until the run
// ends, then the run's summary.
#include <chrono>
#include <iostream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cli/command_support.h"
#include "cli/commands.h"
#include "common/status_names.h"

namespace runyard::cli {
namespace {

std::string RankLogPath(int rank) {
  return rank == 0 ? "user_logs/std_log.txt" : absl::StrCat("user_logs/std_log_rank_", rank, ".txt");
}

absl::Status NoRankLog(const std::string& run_id, int rank) {
  return absl::NotFoundError(absl::StrCat("run ", run_id, " has no log for rank ", rank, " (", RankLogPath(rank),
                                          "): distributed runs are not implemented yet, so every run has only "
                                          "rank 0 (runyard logs ",
                                          run_id, ")"));
}

absl::StatusOr<bool> HasFile(RunBackend& backend, const std::string& run_id, const std::string& path) {
  absl::StatusOr<std::vector<runyard::v1::FileInfo>> files = backend.ListFiles(run_id);
  if (!files.ok()) return files.status();
  for (const auto& file : *files) {
    if (file.path() == path) return true;
  }
  return false;
}

// Prints a log chunk: raw bytes, or under --json one object per chunk ({offset, text}).
class LogPrinter {
 public:
  explicit LogPrinter(bool json) : json_(json) {}
  void operator()(std::string_view bytes) {
    if (json_) {
      PrintJson({{"offset", offset_}, {"text", std::string(bytes)}}, -1);
    } else {
      std::cout.write(bytes.data(), static_cast<std::streamsize>(bytes.size())).flush();
    }
    offset_ += static_cast<int64_t>(bytes.size());
  }
  int64_t offset() const { return offset_; }

 private:
  bool json_;
  int64_t offset_ = 0;
};

// Runs.Watch carries only rank 0's log; any other is followed by reading it again from
// where it was left, once a second, until the run has ended and the rest was read.
absl::StatusOr<runyard::v1::Run> FollowByPolling(RunBackend& backend, const std::string& run_id,
                                                 const std::string& path, LogPrinter& print) {
  while (true) {
    absl::StatusOr<runyard::v1::Run> run = backend.Get(run_id);  // before the read: ended means complete
    if (!run.ok()) return run.status();
    absl::Status read = backend.ReadFile(run_id, path, print.offset(), [&](std::string_view bytes, int64_t) {
      if (!bytes.empty()) print(bytes);
      return absl::OkStatus();
    });
    if (!read.ok() && !absl::IsNotFound(read)) return read;
    if (common::IsTerminal(run->status())) return run;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

int PrintWholeLog(const GlobalOptions& global, RunBackend& backend, const LogsOptions& options,
                  const std::string& path) {
  std::ostringstream json_text;
  absl::Status read = backend.ReadFile(options.run_id, path, 0, [&](std::string_view bytes, int64_t) {
    if (global.json) {
      json_text.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    } else {
      std::cout.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    return absl::OkStatus();
  });
  std::cout.flush();
  if (absl::IsNotFound(read)) {
    if (options.rank != 0) return Fail(NoRankLog(options.run_id, options.rank));
    read = backend.Get(options.run_id).status();  // a run with no output yet prints nothing
  }
  if (!read.ok()) return Fail(read);
  if (global.json) PrintJson({{"run_id", options.run_id}, {"path", path}, {"text", json_text.str()}});
  return 0;
}

}  // namespace

int LogsCommand(const GlobalOptions& global, const LogsOptions& options) {
  if (options.rank < 0) return Fail(absl::InvalidArgumentError("--rank must be 0 or more"));
  absl::StatusOr<std::unique_ptr<RunBackend>> backend = BackendForRun(global, options.run_id);
  if (!backend.ok()) return Fail(backend.status());
  const std::string path = RankLogPath(options.rank);
  if (!options.follow) return PrintWholeLog(global, **backend, options, path);

  LogPrinter print(global.json);
  absl::StatusOr<runyard::v1::Run> run;
  if (options.rank == 0) {
    run = (*backend)->Watch(options.run_id, 0, [&](std::string_view bytes) { print(bytes); }, nullptr);
  } else {
    absl::StatusOr<bool> exists = HasFile(**backend, options.run_id, path);
    if (!exists.ok()) return Fail(exists.status());
    if (!*exists) return Fail(NoRankLog(options.run_id, options.rank));
    run = FollowByPolling(**backend, options.run_id, path, print);
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
