// RecordingTokenService: a scripted TokenService for client tests: canned
// replies, a record of what each call carried (metadata, deadline, request,
// TLS peer), and failures on demand. StartTestServer serves it on loopback.

#ifndef TESTS_CLIENT_RECORDING_TOKEN_SERVICE_H_
#define TESTS_CLIENT_RECORDING_TOKEN_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "proto/token_service.grpc.pb.h"

namespace tokenservice {

// Thread-safe.
class RecordingTokenService final
    : public mypos::token::v1::TokenService::Service {
 public:
  // The token every Issue returns.
  static constexpr char kToken[] = "recorded-token-value";

  // `on_call`, if set, gets "caller_key=K peer_cn=CN" ("-" when absent)
  // for every call, from the serving thread.
  explicit RecordingTokenService(
      std::function<void(const std::string&)> on_call = nullptr)
      : on_call_(std::move(on_call)) {}

  // The next `n` calls (any method) answer `status` instead, with the
  // grpc-retry-pushback-ms trailer `pushback_ms` when it is not empty.
  void FailNext(int n, grpc::Status status, std::string pushback_ms = "")
      ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    failures_left_ = n;
    failure_ = std::move(status);
    pushback_ms_ = std::move(pushback_ms);
  }

  int calls() const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return calls_;
  }
  // The last call's metadata whose key starts with "x-".
  std::multimap<std::string, std::string> last_metadata() const
      ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return last_metadata_;
  }
  // How far the last call's deadline was from its arrival.
  absl::Duration last_timeout() const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return last_timeout_;
  }
  // The last request of any method, as text.
  std::string last_request() const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return last_request_;
  }
  // The x509 common name of the last call's TLS client, if any.
  std::string last_peer_common_name() const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return last_peer_common_name_;
  }

  grpc::Status Issue(grpc::ServerContext* context,
                     const mypos::token::v1::IssueRequest* request,
                     mypos::token::v1::IssueResponse* response) override {
    response->set_access_token(kToken);
    response->set_token_type("Bearer");
    response->set_fingerprint("00112233aabbccdd");
    response->mutable_expire_time()->set_seconds(
        absl::ToUnixSeconds(absl::Now() + absl::Hours(1)));
    return Record(*context, *request);
  }
  grpc::Status Revoke(grpc::ServerContext* context,
                      const mypos::token::v1::RevokeRequest* request,
                      mypos::token::v1::RevokeResponse* response) override {
    response->set_fingerprint("00112233aabbccdd");
    response->set_was_cached(true);
    return Record(*context, *request);
  }
  grpc::Status GetTokenInfo(
      grpc::ServerContext* context,
      const mypos::token::v1::GetTokenInfoRequest* request,
      mypos::token::v1::TokenInfo* response) override {
    response->set_fingerprint(request->fingerprint());
    response->set_state(mypos::token::v1::TOKEN_STATE_FRESH);
    return Record(*context, *request);
  }
  grpc::Status ListTokens(
      grpc::ServerContext* context,
      const mypos::token::v1::ListTokensRequest* request,
      mypos::token::v1::ListTokensResponse* response) override {
    // With page_size 1, two pages: the second behind next_page_token.
    if (request->page_size() == 1 && request->page_token() == "page-2") {
      response->add_tokens()->set_fingerprint("ffeeddccbbaa9988");
    } else {
      response->add_tokens()->set_fingerprint("00112233aabbccdd");
      if (request->page_size() == 1) response->set_next_page_token("page-2");
    }
    return Record(*context, *request);
  }

 private:
  grpc::Status Record(grpc::ServerContext& context,
                      const google::protobuf::Message& request)
      ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    ++calls_;
    last_metadata_.clear();
    for (const auto& [key, value] : context.client_metadata()) {
      if (key.starts_with("x-")) {
        last_metadata_.emplace(std::string(key.data(), key.size()),
                               std::string(value.data(), value.size()));
      }
    }
    last_timeout_ = absl::FromChrono(context.deadline()) - absl::Now();
    last_request_ = request.ShortDebugString();
    last_peer_common_name_.clear();
    if (auto auth = context.auth_context()) {
      for (const auto& cn : auth->FindPropertyValues("x509_common_name")) {
        last_peer_common_name_.assign(cn.data(), cn.size());
      }
    }
    if (on_call_) {
      auto key = last_metadata_.find("x-caller-key");
      on_call_(absl::StrCat(
          "caller_key=", key == last_metadata_.end() ? "-" : key->second,
          " peer_cn=",
          last_peer_common_name_.empty() ? "-" : last_peer_common_name_));
    }
    if (failures_left_ > 0) {
      --failures_left_;
      if (!pushback_ms_.empty()) {
        context.AddTrailingMetadata("grpc-retry-pushback-ms", pushback_ms_);
      }
      return failure_;
    }
    return grpc::Status::OK;
  }

  const std::function<void(const std::string&)> on_call_;
  mutable Mutex mu_;
  int failures_left_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::Status failure_ ABSL_GUARDED_BY(mu_);
  std::string pushback_ms_ ABSL_GUARDED_BY(mu_);
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::multimap<std::string, std::string> last_metadata_ ABSL_GUARDED_BY(mu_);
  absl::Duration last_timeout_ ABSL_GUARDED_BY(mu_);
  std::string last_request_ ABSL_GUARDED_BY(mu_);
  std::string last_peer_common_name_ ABSL_GUARDED_BY(mu_);
};

struct TestServer {
  std::unique_ptr<grpc::Server> server;
  int port = 0;
};

// Serves `service` (and the default health service) on 127.0.0.1, on a
// free port. `credentials` defaults to plaintext.
inline TestServer StartTestServer(
    grpc::Service* service,
    std::shared_ptr<grpc::ServerCredentials> credentials = nullptr) {
  grpc::EnableDefaultHealthCheckService(true);
  TestServer running;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(
      "127.0.0.1:0",
      credentials ? credentials : grpc::InsecureServerCredentials(),
      &running.port);
  builder.RegisterService(service);
  running.server = builder.BuildAndStart();
  return running;
}

}  // namespace tokenservice

#endif  // TESTS_CLIENT_RECORDING_TOKEN_SERVICE_H_
