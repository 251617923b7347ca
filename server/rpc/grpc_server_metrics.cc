#include "server/rpc/grpc_server_metrics.h"

#include <google/protobuf/descriptor.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/mutex.h"
#include "server/ops/metrics.h"

namespace tokenservice {
namespace {

// gRPC's code names as its Go library (and so go-grpc-prometheus) spells
// them, by code number.
constexpr const char* kGoCodeNames[17] = {"OK",
                                          "Canceled",
                                          "Unknown",
                                          "InvalidArgument",
                                          "DeadlineExceeded",
                                          "NotFound",
                                          "AlreadyExists",
                                          "PermissionDenied",
                                          "ResourceExhausted",
                                          "FailedPrecondition",
                                          "Aborted",
                                          "OutOfRange",
                                          "Unimplemented",
                                          "Internal",
                                          "Unavailable",
                                          "DataLoss",
                                          "Unauthenticated"};

const char* TypeName(const google::protobuf::MethodDescriptor& method) {
  if (method.client_streaming()) {
    return method.server_streaming() ? "bidi_stream" : "client_stream";
  }
  return method.server_streaming() ? "server_stream" : "unary";
}

// Records one call: started when made, handled with the code of the status
// it sends (Canceled when it sends none). gRPC creates it, runs it and
// destroys it on different threads, ordered through its core; the lock
// (base/mutex.h) makes that order visible to TSAN as well, and costs
// nothing that matters: TokenService's calls have no interceptor.
class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit MetricsInterceptor(const GrpcServerMetrics::Method& method)
      : method_(method) {
    MutexLock lock(&mu_);
    start_ = absl::Now();
    handled_ = false;
    method_.Started();
  }

  ~MetricsInterceptor() override {
    MutexLock lock(&mu_);
    if (!handled_) HandledLocked(grpc::StatusCode::CANCELLED);
  }

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::StatusCode code = methods->GetSendStatus().error_code();
      MutexLock lock(&mu_);
      HandledLocked(code);
    }
    methods->Proceed();
  }

 private:
  void HandledLocked(grpc::StatusCode code) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    handled_ = true;
    method_.Handled(code, absl::Now() - start_);
  }

  const GrpcServerMetrics::Method& method_;
  Mutex mu_;
  absl::Time start_ ABSL_GUARDED_BY(mu_);
  bool handled_ ABSL_GUARDED_BY(mu_);
};

class Factory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(const GrpcServerMetrics* metrics) : metrics_(metrics) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    const absl::string_view path =
        info->method() == nullptr ? absl::string_view() : info->method();
    // None: gRPC then runs the call on its fast path.
    if (metrics_->RecordedByHandler(path)) return nullptr;
    return new MetricsInterceptor(metrics_->Find(path));
  }

 private:
  const GrpcServerMetrics* const metrics_;
};

}  // namespace

void GrpcServerMetrics::Method::Handled(int code,
                                        absl::Duration latency) const {
  handled_[std::clamp(code, 0, 16)]->Increment();
  handling_->Observe(absl::ToDoubleSeconds(latency));
}

absl::StatusOr<std::unique_ptr<GrpcServerMetrics>> GrpcServerMetrics::Create(
    prometheus::Registry& registry, const std::vector<std::string>& services,
    const std::vector<std::string>& recorded_by_handlers) {
  auto& started = prometheus::BuildCounter()
                      .Name("grpc_server_started_total")
                      .Help("Total number of RPCs started on the server.")
                      .Register(registry);
  auto& handled = prometheus::BuildCounter()
                      .Name("grpc_server_handled_total")
                      .Help(
                          "Total number of RPCs completed on the server, "
                          "regardless of success or failure.")
                      .Register(registry);
  auto& handling =
      prometheus::BuildHistogram()
          .Name("grpc_server_handling_seconds")
          .Help(
              "Histogram of response latency (seconds) of gRPC that had "
              "been application-level handled by the server.")
          .Register(registry);
  std::unique_ptr<GrpcServerMetrics> metrics(new GrpcServerMetrics());
  for (bool by_handler : {false, true}) {
    for (const std::string& name :
         by_handler ? recorded_by_handlers : services) {
      if (!metrics->AddService(name, by_handler, started, handled, handling)) {
        return absl::InternalError(
            absl::StrCat("no descriptor for service ", name,
                         ": its generated code is not linked in"));
      }
    }
  }
  Add(started, handled, handling, "unknown", "unknown", "unknown",
      &metrics->unknown_);
  return metrics;
}

bool GrpcServerMetrics::AddService(
    const std::string& name, bool recorded_by_handler,
    prometheus::Family<prometheus::Counter>& started,
    prometheus::Family<prometheus::Counter>& handled,
    prometheus::Family<prometheus::Histogram>& handling) {
  const google::protobuf::ServiceDescriptor* service =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
          name);
  if (service == nullptr) return false;
  for (int i = 0; i < service->method_count(); ++i) {
    const google::protobuf::MethodDescriptor& method = *service->method(i);
    const std::string path = absl::StrCat("/", name, "/", method.name());
    Method& out = methods_[path];
    Add(started, handled, handling, TypeName(method), name, method.name(),
        &out);
    out.recorded_by_handler_ = recorded_by_handler;
    if (recorded_by_handler) handler_paths_.push_back(path);
  }
  return true;
}

void GrpcServerMetrics::Add(prometheus::Family<prometheus::Counter>& started,
                            prometheus::Family<prometheus::Counter>& handled,
                            prometheus::Family<prometheus::Histogram>& handling,
                            const std::string& type, const std::string& service,
                            const std::string& method, Method* out) {
  const prometheus::Labels labels = {
      {"grpc_type", type}, {"grpc_service", service}, {"grpc_method", method}};
  out->started_ = &started.Add(labels);
  for (int c = 0; c < 17; ++c) {
    prometheus::Labels with_code = labels;
    with_code["grpc_code"] = kGoCodeNames[c];
    out->handled_[c] = &handled.Add(with_code);
  }
  out->handling_ = &handling.Add(labels, LatencyBuckets());
}

const GrpcServerMetrics::Method& GrpcServerMetrics::Find(
    absl::string_view path) const {
  auto it = methods_.find(path);
  return it == methods_.end() ? unknown_ : it->second;
}

bool GrpcServerMetrics::RecordedByHandler(absl::string_view path) const {
  return std::find(handler_paths_.begin(), handler_paths_.end(), path) !=
         handler_paths_.end();
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
GrpcServerMetrics::InterceptorFactory() {
  return std::make_unique<Factory>(this);
}

}  // namespace tokenservice
