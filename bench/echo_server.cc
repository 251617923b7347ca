// echo_server: the baseline TokenService is measured against. Same gRPC
// callback API, same message sizes, no work; with --token_server_limits,
// also the same limits on the port.

#include <grpcpp/grpcpp.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/echo.grpc.pb.h"
#include "server/rpc/grpc_limits.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "Address, HOST:PORT.");
ABSL_FLAG(std::string, port_file, "", "Write the bound port here.");
ABSL_FLAG(bool, token_server_limits, false,
          "Put token_server's default limits on the port (stream cap, "
          "memory quota, connection idle and age, keepalive enforcement: "
          "server/rpc/grpc_limits.h), so that the floor pays what gRPC "
          "charges for them (BENCHMARKS.md, \"What a hit costs\").");
ABSL_FLAG(int64_t, work_ns, 0,
          "Busy-wait this long in each call: shows how the tail at a given "
          "concurrency responds to per-call work (BENCHMARKS.md).");

namespace {

class EchoService final : public tokenservice::bench::Echo::CallbackService {
 public:
  explicit EchoService(int64_t work_ns) : work_ns_(work_ns) {}

 private:
  grpc::ServerUnaryReactor* Echo(
      grpc::CallbackServerContext* context,
      const tokenservice::bench::EchoRequest* request,
      tokenservice::bench::EchoResponse* response) override {
    if (work_ns_ > 0) {
      const int64_t until = absl::GetCurrentTimeNanos() + work_ns_;
      while (absl::GetCurrentTimeNanos() < until) {
      }
    }
    response->mutable_payload()->assign(
        static_cast<size_t>(std::max(0, request->response_bytes())), 'x');
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  const int64_t work_ns_;
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // As token_server does (server/main.cc): Debian's Abseil checks every
  // Mutex for deadlocks unless told not to, and the floor should not pay it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  EchoService service(absl::GetFlag(FLAGS_work_ns));
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen),
                           grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  if (absl::GetFlag(FLAGS_token_server_limits)) {
    tokenservice::ApplyLimits(tokenservice::GrpcLimits(), &builder);
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) return 1;
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty()) {
    const std::string tmp = port_file + ".tmp";
    if (FILE* f = std::fopen(tmp.c_str(), "w")) {
      std::fprintf(f, "%d\n", port);
      std::fclose(f);
      std::rename(tmp.c_str(), port_file.c_str());
    }
  }
  int signal = 0;
  sigwait(&signals, &signal);
  server->Shutdown();
  return 0;
}
