// GrpcServerMetrics: the gRPC server families that dashboards and alerts
// written for go-grpc-prometheus (and the OpenTelemetry gRPC conventions)
// expect, for every call of every service the server runs:
//
//   grpc_server_started_total{grpc_type,grpc_service,grpc_method}
//   grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}
//   grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method}
//
// grpc_type is unary, client_stream, server_stream or bidi_stream; grpc_code
// is the code's name as gRPC's Go library spells it (OK, Canceled,
// InvalidArgument, ..., Unavailable), as those dashboards match it. Every
// method of the services it is given starts with all 17 codes at zero, so
// that rate() and absent() work from the first scrape. A call to a method
// the server does not have counts under grpc_service and grpc_method
// "unknown" (the caller chooses the name: it must not become a label).
//
// Calls of the services it is told their handlers record (TokenService's:
// RpcRecord calls Started and Handled) get no interceptor: with none, gRPC
// takes its fast path, and the cache-hit path pays two counter increments
// and a histogram observation instead of gRPC's interception machinery
// (BENCHMARKS.md, "Metrics"). Every other call (health, reflection, an
// unknown method) is seen by a server interceptor, which counts it when
// gRPC creates it and when it sends its status; one that ends without a
// status sent (the server shut down under it) counts as Canceled.
//
// Thread-safe. Must outlive the server it is installed in.

#ifndef SERVER_RPC_GRPC_SERVER_METRICS_H_
#define SERVER_RPC_GRPC_SERVER_METRICS_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/node_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace tokenservice {

class GrpcServerMetrics {
 public:
  // Registers the families in `registry` with series for every method of
  // `services` and of `recorded_by_handlers` (full protobuf names, e.g.
  // "grpc.health.v1.Health"), as the generated descriptor pool describes
  // them; a name the pool does not know is an error at start-up, not a
  // silent gap. The methods of `recorded_by_handlers` get no interceptor:
  // their handlers must call Started and Handled for every call.
  static absl::StatusOr<std::unique_ptr<GrpcServerMetrics>> Create(
      prometheus::Registry& registry, const std::vector<std::string>& services,
      const std::vector<std::string>& recorded_by_handlers = {});

  // An interceptor factory for grpc::ServerBuilder (which owns it) that
  // records into this.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  InterceptorFactory();

  // The series of one method (or of "unknown"). Thread-safe.
  class Method {
   public:
    // The call was made.
    void Started() const { started_->Increment(); }
    // It ended with `code` (a grpc::StatusCode or absl::StatusCode: the
    // numbers are the same) after `latency`.
    void Handled(int code, absl::Duration latency) const;
    bool recorded_by_handler() const { return recorded_by_handler_; }

   private:
    friend class GrpcServerMetrics;
    prometheus::Counter* started_ = nullptr;
    std::array<prometheus::Counter*, 17> handled_{};
    prometheus::Histogram* handling_ = nullptr;
    bool recorded_by_handler_ = false;
  };

  // The method's series, by its path "/package.Service/Method"; "unknown"'s
  // for a path it does not have.
  const Method& Find(absl::string_view path) const;

  // Whether `path` is a method of `recorded_by_handlers`: what Find(path)
  // .recorded_by_handler() says, at a fraction of the cost (gRPC asks for
  // every call, before the handler runs).
  bool RecordedByHandler(absl::string_view path) const;

 private:
  GrpcServerMetrics() = default;
  // Registers the methods of `service` in the families; false when the
  // descriptor pool does not know it.
  bool AddService(const std::string& service, bool recorded_by_handler,
                  prometheus::Family<prometheus::Counter>& started,
                  prometheus::Family<prometheus::Counter>& handled,
                  prometheus::Family<prometheus::Histogram>& handling);
  static void Add(prometheus::Family<prometheus::Counter>& started,
                  prometheus::Family<prometheus::Counter>& handled,
                  prometheus::Family<prometheus::Histogram>& handling,
                  const std::string& type, const std::string& service,
                  const std::string& method, Method* out);

  // Node-based: RpcRecords and interceptors hold pointers to the Methods.
  absl::node_hash_map<std::string, Method> methods_;
  // The paths of the methods recorded by their handlers: a handful, so a
  // scan (lengths compared first) beats hashing the path.
  std::vector<std::string> handler_paths_;
  Method unknown_;
};

}  // namespace tokenservice

#endif  // SERVER_RPC_GRPC_SERVER_METRICS_H_
