// runyard-server: the control plane (queue, leases, run history, blob store) over gRPC.
#include <signal.h>

#include <filesystem>
#include <thread>

#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>

#include "common/logging.h"
#include "server/control_plane.h"
#include "server/grpc_services.h"

namespace fs = std::filesystem;
using namespace runyard;

int main(int argc, char** argv) {
  CLI::App app{"runyard-server: queue, leases, run history and blob store for runyard agents"};
  std::string listen = "127.0.0.1:7878";
  std::string data_dir = "/var/lib/runyard-server";
  int lease_seconds = 30;
  int agent_lost_seconds = 60;
  int64_t max_snapshot_mb = common::kDefaultMaxSnapshotBytes / 1000000;
  int64_t max_snapshot_files = common::kDefaultMaxSnapshotFiles;
  std::string log_level = "info";
  app.add_option("--listen", listen, "address:port to serve gRPC on (port 0 picks one)");
  app.add_option("--data-dir", data_dir, "where the database, blobs and run files live");
  app.add_option("--lease-seconds", lease_seconds,
                 "an agent silent this long makes its runs NotResponding")->check(CLI::PositiveNumber);
  app.add_option("--agent-lost-seconds", agent_lost_seconds,
                 "NotResponding this long more ends a run Failed/AgentLost")->check(CLI::PositiveNumber);
  app.add_option("--max-snapshot-mb", max_snapshot_mb,
                 "largest snapshot accepted when the submitter sets no limit (MB)")->check(CLI::PositiveNumber);
  app.add_option("--max-snapshot-files", max_snapshot_files,
                 "most files in a snapshot when the submitter sets no limit")->check(CLI::PositiveNumber);
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error");
  CLI11_PARSE(app, argc, argv);
  common::SetLogLevel(log_level);
  auto log = common::Logger("server");

  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) {
    log->critical("cannot create data dir {}: {}", data_dir, ec.message());
    return 1;
  }
  auto store = server::Store::Open((fs::path(data_dir) / "runyard.db").string());
  if (!store.ok()) {
    log->critical("{}", store.status().ToString());
    return 1;
  }
  server::BlobStore blobs(fs::path(data_dir) / "blobs");
  server::RunFiles files(fs::path(data_dir) / "runs", store->get());
  server::ControlPlaneOptions options;
  options.lease_duration = std::chrono::seconds(lease_seconds);
  options.agent_lost_after = std::chrono::seconds(agent_lost_seconds);
  options.max_snapshot_bytes = max_snapshot_mb * 1000 * 1000;
  options.max_snapshot_files = max_snapshot_files;
  server::ControlPlane plane(store->get(), &blobs, &files, options);
  plane.StartLeaseReaper();

  server::CasService cas(&blobs, plane.DefaultSnapshotLimits());
  server::RunsService runs(&plane);
  server::AgentsService agents(&plane);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.RegisterService(&cas);
  builder.RegisterService(&runs);
  builder.RegisterService(&agents);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    log->critical("cannot listen on {}", listen);
    return 1;
  }
  const std::string host = listen.substr(0, listen.rfind(':'));
  // Tests and scripts read this line to learn the port when they passed port 0.
  log->info("listening on {}:{} (data dir {})", host, port, data_dir);

  // SIGTERM / SIGINT: stop accepting, finish in-flight calls briefly, exit.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::thread waiter([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    log->info("signal {}: shutting down", signal);
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  });
  server->Wait();
  waiter.join();
  return 0;
}
