#pragma once

// Which run files `runyard logs` shows, and how its --all labels each line.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runyard/v1/run.pb.h"

namespace runyard::cli {

// One log to print: a run file, and (under --all) whose it is.
struct LogSource {
  std::string path;
  std::string label;  // "rank 3" or "node 1" under --all, else empty
  // "[rank 3] " before each line under --all, else nothing.
  std::string prefix() const { return label.empty() ? "" : "[" + label + "] "; }
};

// The flags of `runyard logs` that pick the log; -1 means not given.
struct LogChoice {
  int rank = -1;
  int node = -1;
  bool all = false;
};

// The log a run shows by default (`runyard logs RUN`, `runyard run`): rank 0's
// user_logs/std_log_process_0.txt when the agents start every rank (PyTorch with a script,
// TensorFlow), else the run's user_logs/std_log.txt.
std::string DefaultLogPath(const runyard::v1::RunSpec& spec);

// The logs that `choice` asks for, in order: the default; a rank's (--rank N, 0..world
// size - 1; rank 0 of a run whose ranks write no log of their own is its default log); a
// node's main log (--node K); or every rank's (--all; every node's when the ranks write no
// log of their own), labelled. InvalidArgument for a rank or node the run does not have,
// or more than one of --rank, --node and --all.
absl::StatusOr<std::vector<LogSource>> SelectLogs(const runyard::v1::Run& run, const LogChoice& choice);

// Puts a prefix before every line of a stream that arrives in pieces: a line is passed on
// once its end has arrived, so that lines of several logs interleave whole.
class LinePrefixer {
 public:
  explicit LinePrefixer(std::string prefix) : prefix_(std::move(prefix)) {}
  // The complete lines among what arrived so far, each prefixed.
  std::string Add(std::string_view bytes);
  // The last line when it never got its newline, prefixed and ended with one; "" if none.
  std::string Flush();

 private:
  std::string prefix_;
  std::string partial_;
};

// Every line of `text` prefixed (a last line without a newline gets one).
std::string PrefixLines(std::string_view text, const std::string& prefix);

}  // namespace runyard::cli
