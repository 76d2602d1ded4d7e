// The fixture of the access tests over the wire (tests/unit/access_wire*_test.cc): a real
// in-process gRPC server on 127.0.0.1 (plaintext: TLS is tls_wire_test's subject) with the
// real services and gate over the control plane of ControlPlaneTest (SQLite in a temporary
// folder, a FakeClock), and real stubs that send tokens as `authorization` metadata. The
// first tokens are minted by calling the plane directly, as a trusted caller.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "runyard/v1/services.grpc.pb.h"
#include "server/grpc_services.h"
#include "server/request_gate.h"
#include "tests/unit/control_plane_fixture.h"

namespace runyard::server::test_support {

class AccessWireTest : public ControlPlaneTest {
 protected:
  ~AccessWireTest() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
  }

  // Starts the server on first use; `rate` is the gate's max_requests_per_second (on the
  // fixture's FakeClock: buckets refill only when a test moves it).
  void StartServer(double rate = 100000) {
    ASSERT_EQ(server_, nullptr);
    GateOptions options;
    options.max_requests_per_second = rate;
    options.clock = &clock_;
    gate_ = std::make_unique<RequestGate>(&Plane(), options);
    cas_ = std::make_unique<CasService>(&Plane(), gate_.get());
    runs_ = std::make_unique<RunsService>(&Plane(), gate_.get());
    agents_ = std::make_unique<AgentsService>(&Plane(), gate_.get());
    access_ = std::make_unique<AccessService>(&Plane(), gate_.get());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(cas_.get());
    builder.RegisterService(runs_.get());
    builder.RegisterService(agents_.get());
    builder.RegisterService(access_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                       grpc::InsecureChannelCredentials());
    runs_stub_ = runyard::v1::Runs::NewStub(channel);
    agents_stub_ = runyard::v1::Agents::NewStub(channel);
    access_stub_ = runyard::v1::Access::NewStub(channel);
    cas_stub_ = runyard::v1::Cas::NewStub(channel);
  }

  std::string UserToken(runyard::v1::Role role, const std::string& name) {
    return NewToken(runyard::v1::TOKEN_KIND_USER, role, name);
  }
  std::string JoinToken(const std::string& pool) {
    return NewToken(runyard::v1::TOKEN_KIND_JOIN, runyard::v1::ROLE_UNSPECIFIED, pool + " join", pool);
  }

  // Runs `call(context)` with `token` as the call's bearer token ("" for none).
  template <typename Call>
  static grpc::Status As(const std::string& token, Call call) {
    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return call(&context);
  }

  grpc::Status Submit(const std::string& token, runyard::v1::Run* run, runyard::v1::RunSpec spec) {
    runyard::v1::SubmitRequest request;
    *request.mutable_spec() = std::move(spec);
    return As(token, [&](auto* c) { return runs_stub_->Submit(c, request, run); });
  }
  grpc::Status Submit(const std::string& token, runyard::v1::Run* run) {
    return Submit(token, run, Spec());
  }

  // Every run, as an admin sees them.
  std::vector<runyard::v1::Run> ListedRuns() {
    absl::StatusOr<std::vector<runyard::v1::Run>> runs =
        Plane().List(runyard::v1::ListRunsRequest());
    EXPECT_TRUE(runs.ok()) << runs.status();
    return runs.ok() ? *runs : std::vector<runyard::v1::Run>();
  }

  std::unique_ptr<RequestGate> gate_;
  std::unique_ptr<CasService> cas_;
  std::unique_ptr<RunsService> runs_;
  std::unique_ptr<AgentsService> agents_;
  std::unique_ptr<AccessService> access_;
  std::unique_ptr<grpc::Server> server_;  // shut down first: it calls the services
  std::unique_ptr<runyard::v1::Runs::Stub> runs_stub_;
  std::unique_ptr<runyard::v1::Agents::Stub> agents_stub_;
  std::unique_ptr<runyard::v1::Access::Stub> access_stub_;
  std::unique_ptr<runyard::v1::Cas::Stub> cas_stub_;
};

}  // namespace runyard::server::test_support
