// TokenServiceImpl: the gRPC face of the TokenBroker.
//
// Thin by design: validate the request, call the broker, map the Status.
// Cache hits finish on the handler's thread; misses finish their reactor
// when the broker's shared fetch completes, so no gRPC thread waits on
// myPOS.

#ifndef SERVER_TOKEN_SERVICE_IMPL_H_
#define SERVER_TOKEN_SERVICE_IMPL_H_

#include <grpcpp/grpcpp.h>

#include "proto/token_service.grpc.pb.h"
#include "server/metrics.h"
#include "server/token_broker.h"

namespace tokenservice {

// Thread-safe. Borrows `broker` and `metrics`, which must outlive the
// server; `metrics` may be null.
class TokenServiceImpl final
    : public mypos::token::v1::TokenService::CallbackService {
 public:
  explicit TokenServiceImpl(TokenBroker* broker, Metrics* metrics = nullptr)
      : broker_(broker), metrics_(metrics) {}

  grpc::ServerUnaryReactor* Issue(
      grpc::CallbackServerContext* context,
      const mypos::token::v1::IssueRequest* request,
      mypos::token::v1::IssueResponse* response) override;

  grpc::ServerUnaryReactor* Revoke(
      grpc::CallbackServerContext* context,
      const mypos::token::v1::RevokeRequest* request,
      mypos::token::v1::RevokeResponse* response) override;

  grpc::ServerUnaryReactor* GetTokenInfo(
      grpc::CallbackServerContext* context,
      const mypos::token::v1::GetTokenInfoRequest* request,
      mypos::token::v1::TokenInfo* response) override;

  grpc::ServerUnaryReactor* ListTokens(
      grpc::CallbackServerContext* context,
      const mypos::token::v1::ListTokensRequest* request,
      mypos::token::v1::ListTokensResponse* response) override;

 private:
  // Finishes `reactor` with `status`, recording the RPC and logging
  // failures with the profile and duration.
  void Finish(grpc::ServerUnaryReactor* reactor, RpcMethod method,
              absl::string_view profile, absl::Time start,
              const absl::Status& status) const;

  TokenBroker* const broker_;
  Metrics* const metrics_;
};

}  // namespace tokenservice

#endif  // SERVER_TOKEN_SERVICE_IMPL_H_
