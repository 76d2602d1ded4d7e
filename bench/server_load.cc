// runyard-server-load: the server benchmark's load generator (bench/server_bench.py runs
// it). It queues many runs, then simulated agents take them over the real Agents API, as
// fast as the server hands them out, and it prints what it measured as one JSON object.
//
// Each simulated agent is a thread with its own channel: Register, then Poll for one
// run at a time and report it through the statuses a real agent reports (Preparing,
// Starting, Running, Finalizing, Completed), with nothing run in between. So the figures
// are the server's own: queue, leases, history writes and the long poll.
//
// Usage: runyard-server-load --server HOST:PORT --template RUN_ID [--pool P] [--runs N]
//          [--agents N] [--submitters N] [--token-file F] [--ca-file CA] [--insecure]
// The template run (any queued run) gives the spec, snapshot included, for every run.
// The token (--token-file, else RUNYARD_TOKEN) is a user token that may submit and make
// tokens (admin): the tool makes a join token for its pool, each simulated agent registers
// with it and goes on with the agent token it is given, reporting each run with that run's
// own token, as runyard-agent does. TLS unless --insecure (or RUNYARD_INSECURE=1), checked
// against --ca-file (else RUNYARD_CA_FILE).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "common/grpc_channel.h"
#include "common/read_file.h"
#include "runyard/v1/services.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string server;
  std::string template_run;
  std::string pool = "server-bench";
  int runs = 10000;
  int agents = 20;
  int submitters = 4;
  std::string token;  // the user token's text, read from --token-file or RUNYARD_TOKEN
  std::string ca_file;
  bool insecure = false;
};

double Milliseconds(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> values, double fraction) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  // Nearest rank, as bench/benchlib.py's percentile().
  const size_t rank = static_cast<size_t>(std::ceil(fraction * static_cast<double>(values.size())));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

[[noreturn]] void Fail(const std::string& what, const grpc::Status& status) {
  std::cerr << "runyard-server-load: " << what << ": " << status.error_message() << "\n";
  std::exit(1);
}

std::string Environment(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

std::string Trimmed(std::string text) {
  const auto blank = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!text.empty() && blank(text.back())) text.pop_back();
  size_t start = 0;
  while (start < text.size() && blank(text[start])) ++start;
  return text.substr(start);
}

Options ParseOptions(int argc, char** argv) {
  Options options;
  options.token = Environment("RUNYARD_TOKEN");
  options.ca_file = Environment("RUNYARD_CA_FILE");
  options.insecure = Environment("RUNYARD_INSECURE") == "1";
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--insecure") {
      options.insecure = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::cerr << "runyard-server-load: " << flag << " needs a value\n";
      std::exit(2);
    }
    const std::string value = argv[++i];
    if (flag == "--server") options.server = value;
    else if (flag == "--token-file") {
      absl::StatusOr<std::string> token = runyard::common::ReadWholeFile(value);
      if (!token.ok()) {
        std::cerr << "runyard-server-load: cannot read the token file " << value << "\n";
        std::exit(2);
      }
      options.token = Trimmed(*token);
    } else if (flag == "--ca-file") options.ca_file = value;
    else if (flag == "--template") options.template_run = value;
    else if (flag == "--pool") options.pool = value;
    else if (flag == "--runs") options.runs = std::atoi(value.c_str());
    else if (flag == "--agents") options.agents = std::atoi(value.c_str());
    else if (flag == "--submitters") options.submitters = std::atoi(value.c_str());
    else {
      std::cerr << "runyard-server-load: unknown flag " << flag << "\n";
      std::exit(2);
    }
  }
  if (options.server.empty() || options.template_run.empty() || options.runs <= 0 || options.agents <= 0 ||
      options.submitters <= 0) {
    std::cerr << "usage: runyard-server-load --server HOST:PORT --template RUN_ID [--pool P] [--runs N] "
                 "[--agents N] [--submitters N] [--token-file F] [--ca-file CA] [--insecure]\n";
    std::exit(2);
  }
  return options;
}

// A channel to the server presenting `token` (which the caller may change later).
std::shared_ptr<grpc::Channel> Channel(const Options& options, std::shared_ptr<runyard::common::TokenSource> token) {
  runyard::common::ChannelOptions channel;
  channel.address = options.server;
  channel.insecure_plaintext = options.insecure;
  channel.ca_file = options.ca_file;
  channel.token = std::move(token);
  return runyard::common::ServerChannel(channel);
}

std::shared_ptr<grpc::Channel> UserChannel(const Options& options) {
  return Channel(options, std::make_shared<runyard::common::TokenSource>(options.token));
}

// A join token for the simulated agents' pool, made with the user token.
std::string CreateJoinToken(const Options& options) {
  auto access = runyard::v1::Access::NewStub(UserChannel(options));
  runyard::v1::CreateTokenRequest request;
  request.set_kind(runyard::v1::TOKEN_KIND_JOIN);
  request.set_pool(options.pool);
  request.set_name("runyard-server-load agents");
  request.set_ttl_seconds(24 * 3600);
  runyard::v1::CreateTokenResponse created;
  grpc::ClientContext context;
  if (grpc::Status s = access->CreateToken(&context, request, &created); !s.ok()) Fail("CreateToken (join)", s);
  return created.token();
}

// Queues options.runs copies of the template's spec, from several threads; the latency
// of each Submit in ms.
std::vector<double> SubmitAll(const Options& options, const runyard::v1::RunSpec& spec) {
  std::vector<double> latencies;
  std::mutex mutex;
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < options.submitters; ++t) {
    threads.emplace_back([&] {
      auto runs = runyard::v1::Runs::NewStub(UserChannel(options));
      std::vector<double> mine;
      while (next.fetch_add(1) < options.runs) {
        runyard::v1::SubmitRequest request;
        *request.mutable_spec() = spec;
        runyard::v1::Run run;
        grpc::ClientContext context;
        const auto began = Clock::now();
        if (grpc::Status s = runs->Submit(&context, request, &run); !s.ok()) Fail("Submit", s);
        mine.push_back(Milliseconds(Clock::now() - began));
      }
      std::lock_guard lock(mutex);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  for (auto& thread : threads) thread.join();
  return latencies;
}

struct AgentResult {
  std::vector<double> acquire_ms;  // Poll calls that brought a run
  std::vector<double> report_ms;   // each UpdateStatus
  int empty_polls = 0;
};

// One simulated agent: takes runs one at a time until all `total` are done.
AgentResult SimulatedAgent(const Options& options, const std::string& join_token, int index,
                           std::atomic<int>& completed) {
  AgentResult result;
  auto token = std::make_shared<runyard::common::TokenSource>(join_token);
  auto agents = runyard::v1::Agents::NewStub(Channel(options, token));
  runyard::v1::RegisterRequest registration;
  registration.set_name("load-" + std::to_string(index));
  registration.set_pool(options.pool);
  registration.set_slots(1);
  registration.set_hostname("server-load");
  registration.set_version("bench");
  runyard::v1::RegisterResponse registered;
  {
    grpc::ClientContext context;
    if (grpc::Status s = agents->Register(&context, registration, &registered); !s.ok()) Fail("Register", s);
  }
  // From now on the agent's own token; a run's reports carry the run's token.
  if (!registered.agent_token().empty()) token->Set(registered.agent_token());
  while (completed.load() < options.runs) {
    runyard::v1::PollRequest poll;
    poll.set_agent_id(registered.agent_id());
    poll.set_free_slots(1);
    poll.set_wait_ms(200);  // short: once the queue is empty, notice the end soon
    runyard::v1::PollResponse answer;
    grpc::ClientContext context;
    const auto began = Clock::now();
    if (grpc::Status s = agents->Poll(&context, poll, &answer); !s.ok()) Fail("Poll", s);
    if (answer.assignments().empty()) {
      ++result.empty_polls;
      continue;
    }
    result.acquire_ms.push_back(Milliseconds(Clock::now() - began));
    for (const auto& assignment : answer.assignments()) {
      for (runyard::v1::RunStatus status : {runyard::v1::PREPARING, runyard::v1::STARTING, runyard::v1::RUNNING,
                                            runyard::v1::FINALIZING, runyard::v1::COMPLETED}) {
        runyard::v1::UpdateStatusRequest update;
        *update.mutable_lease() = assignment.lease();
        update.set_status(status);
        if (status == runyard::v1::COMPLETED) {
          update.set_has_exit_code(true);
          update.set_exit_code(0);
        }
        runyard::v1::UpdateStatusResponse updated;
        grpc::ClientContext report_context;
        if (!assignment.run_token().empty()) {
          report_context.AddMetadata("authorization", "Bearer " + assignment.run_token());
        }
        const auto reported = Clock::now();
        if (grpc::Status s = agents->UpdateStatus(&report_context, update, &updated); !s.ok()) {
          Fail("UpdateStatus", s);
        }
        result.report_ms.push_back(Milliseconds(Clock::now() - reported));
      }
      completed.fetch_add(1);
    }
  }
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = ParseOptions(argc, argv);
  runyard::v1::RunSpec spec;
  {
    auto runs = runyard::v1::Runs::NewStub(UserChannel(options));
    runyard::v1::GetRunRequest request;
    request.set_run_id(options.template_run);
    runyard::v1::Run run;
    grpc::ClientContext context;
    if (grpc::Status s = runs->Get(&context, request, &run); !s.ok()) Fail("Get " + options.template_run, s);
    spec = run.spec();
    spec.set_compute_target(options.pool);
  }

  const auto submit_began = Clock::now();
  const std::vector<double> submit_ms = SubmitAll(options, spec);
  const double submit_seconds = Milliseconds(Clock::now() - submit_began) / 1000;

  const std::string join_token = CreateJoinToken(options);
  std::atomic<int> completed{0};
  std::vector<AgentResult> results(static_cast<size_t>(options.agents));
  const auto drain_began = Clock::now();
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < options.agents; ++i) {
      threads.emplace_back([&, i] { results[static_cast<size_t>(i)] = SimulatedAgent(options, join_token, i, completed); });
    }
    for (auto& thread : threads) thread.join();
  }
  const double drain_seconds = Milliseconds(Clock::now() - drain_began) / 1000;

  std::vector<double> acquire_ms, report_ms;
  int empty_polls = 0;
  for (const AgentResult& result : results) {
    acquire_ms.insert(acquire_ms.end(), result.acquire_ms.begin(), result.acquire_ms.end());
    report_ms.insert(report_ms.end(), result.report_ms.begin(), result.report_ms.end());
    empty_polls += result.empty_polls;
  }
  std::printf(
      "{\"runs\": %d, \"agents\": %d, \"submitters\": %d, \"submit_seconds\": %.3f, \"submit_per_s\": %.1f, "
      "\"submit_p50_ms\": %.2f, \"submit_p99_ms\": %.2f, \"drain_seconds\": %.3f, \"runs_per_s\": %.1f, "
      "\"acquire_p50_ms\": %.2f, \"acquire_p99_ms\": %.2f, \"report_p50_ms\": %.2f, \"report_p99_ms\": %.2f, "
      "\"handed_out\": %zu, \"empty_polls\": %d}\n",
      options.runs, options.agents, options.submitters, submit_seconds, options.runs / submit_seconds,
      Percentile(submit_ms, 0.5), Percentile(submit_ms, 0.99), drain_seconds, options.runs / drain_seconds,
      Percentile(acquire_ms, 0.5), Percentile(acquire_ms, 0.99), Percentile(report_ms, 0.5),
      Percentile(report_ms, 0.99), acquire_ms.size(), empty_polls);
  return acquire_ms.size() == static_cast<size_t>(options.runs) ? 0 : 1;
}
