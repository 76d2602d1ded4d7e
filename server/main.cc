// runyard-server: the control plane (queue, leases, run history, blob store) over gRPC.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "common/config_table.h"
#include "common/logging.h"
#include "common/service_notify.h"
#include "server/config.h"
#include "server/control_plane.h"
#include "server/grpc_services.h"
#include "server/observability.h"
#include "server/server_credentials.h"

namespace fs = std::filesystem;
using namespace runyard;

int main(int argc, char** argv) {
  CLI::App app{"runyard-server: queue, leases, run history and blob store for runyard agents"};
  server::ServerConfig config;
  common::ConfigTable table("server config");
  server::DescribeServerConfig(&config, &table);
  std::string config_file;
  bool check_config = false;
  app.add_option("--config", config_file, "YAML config file (every key below); flags override it");
  app.add_flag("--check-config", check_config,
               "validate the configuration, print the effective one, and exit");
  bool bootstrap_admin_only = false;
  app.add_flag("--bootstrap-admin", bootstrap_admin_only,
               "create the store and the first admin token (admin_token_file), then exit "
               "(the Debian package's postinst)");
  table.AddFlags(app);
  CLI11_PARSE(app, argc, argv);
  absl::Status configured = config_file.empty() ? absl::OkStatus() : table.LoadFile(config_file);
  if (configured.ok()) configured = table.ApplyFlags();
  if (configured.ok()) configured = server::ValidateServerConfig(config);
  if (!configured.ok()) {
    std::fprintf(stderr, "runyard-server: %s\n", std::string(configured.message()).c_str());
    return 2;
  }
  if (check_config) {
    std::printf("# runyard-server: configuration is valid; effective values:\n%s",
                table.Render().c_str());
    return 0;
  }
  // SIGTERM / SIGINT: stop accepting, finish in-flight calls briefly, exit. Blocked before
  // any thread starts (gRPC's, the lease reaper), so that only the waiter below takes them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  common::ConfigureLogging(config.log_level, config.log_file);
  auto log = common::Logger("server");
  const std::string& listen = config.listen;
  const std::string& data_dir = config.data_dir;

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
  options.lease_duration = std::chrono::seconds(config.lease_seconds);
  options.agent_lost_after = std::chrono::seconds(config.agent_lost_seconds);
  options.max_snapshot_bytes = config.max_snapshot_mb * 1000 * 1000;
  options.max_snapshot_files = config.max_snapshot_files;
  options.max_metric_values_per_run = config.max_metric_values_per_run;
  options.max_children_per_run = config.max_children_per_run;
  options.max_tags_per_run = config.max_tags_per_run;
  options.gang_start_timeout = std::chrono::seconds(config.gang_start_timeout_seconds);
  const auto [gang_port_first, gang_port_last] = *server::ParsePortRange(config.gang_port_range);
  options.gang_port_first = gang_port_first;
  options.gang_port_last = gang_port_last;
  server::ControlPlane plane(store->get(), &blobs, &files, options);
  // The first admin token, written to its file when the store has none (the path is
  // logged, never the token).
  if (absl::Status bootstrap = plane.EnsureBootstrapAdmin(server::AdminTokenFile(config)); !bootstrap.ok()) {
    log->critical("admin_token_file: {}", std::string(bootstrap.message()));
    return 1;
  }
  if (bootstrap_admin_only) return 0;
  plane.StartLeaseReaper();
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = server::MakeServerCredentials(config);
  if (!credentials.ok()) {
    log->critical("{}", std::string(credentials.status().message()));
    return 1;
  }

  // Every call passes the gate first: its token, its rate, its method's access rule.
  server::GateOptions gate_options;
  gate_options.max_requests_per_second = config.max_requests_per_second;
  server::RequestGate gate(&plane, gate_options);
  server::CasService cas(&plane, &gate);
  server::RunsService runs(&plane, &gate);
  server::AgentsService agents(&plane, &gate);
  server::AccessService access(&plane, &gate);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, *credentials, &port);
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.RegisterService(&cas);
  builder.RegisterService(&runs);
  builder.RegisterService(&agents);
  builder.RegisterService(&access);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    log->critical("cannot listen on {}", listen);
    return 1;
  }
  server::ServerObservability observability(config, &plane,
                                            [&agents] { return agents.appended_bytes(); });
  if (absl::Status listening = observability.Start(); !listening.ok()) {
    log->critical("http_listen: {}", std::string(listening.message()));
    return 1;
  }
  const std::string host = listen.substr(0, listen.rfind(':'));
  // Tests and scripts read this line to learn the port when they passed port 0.
  log->info("listening on {}:{} ({}, data dir {})", host, port, server::DescribeServerTransport(config), data_dir);
  common::NotifyReady("listening on " + host + ":" + std::to_string(port));

  std::thread waiter([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    log->info("signal {}: shutting down", signal);
    common::NotifyStopping("shutting down");
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  });
  server->Wait();
  waiter.join();
  return 0;
}
